/* sluice: position keys for file names.
 * Fixed-width hex so that names sort in stream order. */
#include <inttypes.h>
#include <stdio.h>
#include "core/pos.h"

void sl_pos_key(const sl_pos_t *p, char *out)
{
    snprintf(out, SL_POS_KEY_LEN + 1, "%016" PRIx64 "-%08" PRIx32, p->major, p->index);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int sl_pos_key_parse(const char *s, size_t n, sl_pos_t *p)
{
    if (n < SL_POS_KEY_LEN || s[16] != '-')
        return -1;
    uint64_t major = 0;
    uint32_t index = 0;
    for (int i = 0; i < 16; i++) {
        int v = hexval(s[i]);
        if (v < 0)
            return -1;
        major = major << 4 | (uint64_t)v;
    }
    for (int i = 17; i < SL_POS_KEY_LEN; i++) {
        int v = hexval(s[i]);
        if (v < 0)
            return -1;
        index = index << 4 | (uint32_t)v;
    }
    p->major = major;
    p->index = index;
    p->minor = 0;
    p->flags = 0;
    return 0;
}
