/* sluice: libFuzzer target for the snapshot progress a bookmark file holds
 * (sl_snap_plan_parse) and its key text (sl_snap_key_get): any bytes give a plan or an
 * error sentence, and a parsed plan renders back to a document that parses the same. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    sl_snap_plan_t p, q;
    sl_snap_plan_init(&p);
    if (sl_snap_plan_parse((const char *)data, size, &p, err, sizeof(err)) != SL_OK) {
        if (!err[0] || !memchr(err, 0, sizeof(err)))
            __builtin_trap(); /* every failure explains itself */
        return 0;
    }
    sl_buf_t a = SL_BUF_INIT, b = SL_BUF_INIT, k = SL_BUF_INIT;
    sl_snap_plan_to_json(&p, &a);
    sl_snap_plan_init(&q);
    if (sl_snap_plan_parse(a.data, a.len, &q, err, sizeof(err)) != SL_OK)
        __builtin_trap(); /* what we write we must read */
    sl_snap_plan_to_json(&q, &b);
    if (a.len != b.len || memcmp(a.data, b.data, a.len))
        __builtin_trap();
    for (size_t i = 0; i < p.n; i++)
        for (size_t j = 0; p.units[i].last_key && j < 4; j++)
            sl_snap_key_get(p.units[i].last_key, j, &k);
    sl_snap_plan_free(&p);
    sl_snap_plan_free(&q);
    sl_buf_free(&a);
    sl_buf_free(&b);
    sl_buf_free(&k);
    return 0;
}
