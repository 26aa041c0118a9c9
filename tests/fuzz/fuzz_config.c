/* sluice: libFuzzer target for the YAML config loader (sl_config_parse, sl_config_free).
 * Any input must give a config or an error sentence; never a crash, leak or hang. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    sl_config_t *c =
        sl_config_parse("fuzz.yaml", (const char *)data, size, err, sizeof(err));
    if (c) {
        /* a loaded config must also dump cleanly */
        sl_buf_t b = SL_BUF_INIT;
        sl_config_dump(c, &b);
        sl_buf_free(&b);
        sl_config_free(c);
    } else if (!err[0] || !memchr(err, 0, sizeof(err))) {
        __builtin_trap(); /* every failure explains itself */
    }
    return 0;
}
