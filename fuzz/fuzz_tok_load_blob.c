/* fuzz_tok_load_blob.c - any bytes as a compact tokenizer blob: refused or loaded, never a crash.
 */
#include <stdint.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tok_t *t = NULL;
    char err[256];
    if (tok_load_blob(data, size, false, &t, err, sizeof err) == 0)
        fuzz_exercise(t);
    return 0;
}
