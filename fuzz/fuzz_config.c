/* fuzz_config.c - the config file parser (config_load) on arbitrary bytes: every line may be
 * malformed; loading must answer with an error or a config, never crash or leak. The bytes go
 * through a memfd so the loader reads a real file path, as serve does. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/log.h"
#include "cli/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_OFF);
    int fd = memfd_create("fuzz-config", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    seekd_config_t c;
    config_defaults(&c);
    char err[1024];
    if (config_load(&c, path, err, sizeof err) == 0) {
        config_finish(&c);
        (void)config_server_keys(&c);
    }
    config_free(&c);
    close(fd);
    return 0;
}
