/* fuzz_auth.c - the Authorization header (Bearer, a comma-separated list of the client's own
 * keys, client keys, the admin token) on arbitrary bytes; the first byte picks the mode. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const keys[] = {"sk-client-0123456789abcdef", "ck-second"};
    gw_auth_cfg_t cfg = {.client_keys = keys,
                         .nclient_keys = data[0] & 1 ? 2 : 0,
                         .server_keys = (data[0] & 2) != 0};
    char *h = malloc(size);
    memcpy(h, data + 1, size - 1);
    h[size - 1] = '\0';
    gw_auth_t out;
    if (gw_authorize(&cfg, h, &out) == 0) {
        for (int i = 0; i < out.nbyot; i++)
            if (!out.byot[i] || strlen(out.byot[i]) == 0)
                abort(); /* a key to send upstream is never empty */
    }
    (void)gw_admin_ok("adm-0123456789abcdef", h);
    free(h);
    return 0;
}
