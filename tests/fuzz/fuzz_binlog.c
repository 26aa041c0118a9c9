/* sluice: libFuzzer target for the binlog event decoder, row images and value decoders.
 * Input: one mode byte, then a binlog stream (events back to back, as after the magic).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include "connectors/mysql/binlog.h"
#include "connectors/mysql/gtidset.h"

/* Mode byte:
 *   bit 0    verify CRC32 (off by default, so mutations reach the parsers behind it)
 *   bit 1    checksums announced before the first FORMAT_DESCRIPTION
 *   bit 2    the rest is a MySQL GTID set: text (as in a bookmark), then binary
 *   bit 6    the rest is one column value: type, 2 metadata bytes, flags, charset, data
 *   bit 7    the rest is a binary JSON document */
static void one_value(const uint8_t *p, size_t n, sl_arena_t *arena, sl_buf_t *tmp)
{
    if (n < 5)
        return;
    sl_my_col_t c;
    memset(&c, 0, sizeof(c));
    uint8_t rt;
    uint16_t meta;
    char err[256];
    uint8_t m[2] = {p[1], p[2]};
    if (sl_my_meta_size(p[0]) < 0 ||
        sl_my_parse_meta(p[0], m, &rt, &meta, err, sizeof(err)))
        return;
    static const sl_my_str_t vals[3] = {{"a", 1}, {"bb", 2}, {"", 0}};
    c.type = rt;
    c.meta = meta;
    c.flags = p[3];
    c.cs = (uint8_t)(p[4] % (SL_MY_CS_OTHER + 1));
    if (p[3] & 0x80) {
        c.vals = vals;
        c.nvals = 3;
    }
    sl_value_t v;
    size_t used;
    if (sl_my_decode(&c, p + 5, n - 5, &used, arena, tmp, &v, err, sizeof(err)) ==
            SL_OK &&
        used > n - 5)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    sl_arena_t arena = SL_ARENA_INIT;
    sl_buf_t tmp = SL_BUF_INIT;
    char err[512];

    if (mode & 0x80) {
        sl_my_json_to_text(data, size, &tmp, err, sizeof(err));
        goto out;
    }
    if (mode & 0x04) {
        /* text and binary forms; what parses must format and encode and read back */
        sl_gtid_set_t set = SL_GTID_SET_INIT, back = SL_GTID_SET_INIT;
        char *text = malloc(size + 1);
        if (!text)
            goto out;
        memcpy(text, data, size);
        text[size] = 0;
        if (sl_gtid_set_parse(&set, text, err, sizeof(err)) == SL_OK) {
            sl_gtid_set_format(&set, &tmp);
            if (sl_gtid_set_parse(&back, tmp.data ? tmp.data : "", err, sizeof(err)) != SL_OK)
                abort();
        }
        if (sl_gtid_set_decode(&set, data, size, err, sizeof(err)) == SL_OK) {
            sl_buf_reset(&tmp);
            sl_gtid_set_encode(&set, &tmp);
            if (sl_gtid_set_decode(&back, (const uint8_t *)tmp.data, tmp.len, err,
                                   sizeof(err)) != SL_OK)
                abort();
        }
        free(text);
        sl_gtid_set_free(&set);
        sl_gtid_set_free(&back);
        goto out;
    }
    if (mode & 0x40) {
        one_value(data, size, &arena, &tmp);
        goto out;
    }

    sl_binlog_decoder_t *d = sl_binlog_decoder_new();
    sl_binlog_decoder_skip_crc(d, !(mode & 1));
    sl_binlog_decoder_set_checksum(d, (mode & 2) ? SL_BINLOG_CHECKSUM_CRC32
                                                 : SL_BINLOG_CHECKSUM_NONE);
    sl_binlog_decoder_set_max_event(d,
                                    (size_t)1 << 20); /* keep the fuzzer's memory small */
    size_t off = 0;
    while (off < size) {
        sl_binlog_event_t ev;
        sl_err_t e = sl_binlog_decode(d, data + off, size - off, &ev, err, sizeof(err));
        if (size - off < SL_BINLOG_HEADER_LEN || ev.h.event_size < SL_BINLOG_HEADER_LEN ||
            ev.h.event_size > size - off)
            break;
        if (e == SL_OK) {
            if (ev.kind == SL_BINLOG_K_GTID || ev.kind == SL_BINLOG_K_MARIA_GTID)
                sl_binlog_gtid_format(&ev, &tmp);
            if (ev.kind == SL_BINLOG_K_PREVIOUS_GTIDS)
                sl_binlog_gtid_set_format(ev.u.raw.p, ev.u.raw.len, &tmp, err,
                                          sizeof(err));
            if (ev.kind == SL_BINLOG_K_GTID_LIST) {
                for (uint32_t i = 0; i < ev.u.gtid_list.count; i++) {
                    uint32_t dm, sv;
                    uint64_t sq;
                    sl_binlog_gtid_list_get(&ev, i, &dm, &sv, &sq);
                }
            }
            if (ev.kind == SL_BINLOG_K_ROWS) {
                sl_binlog_row_t row;
                while (sl_binlog_rows_more(&ev.u.rows) &&
                       sl_binlog_rows_next(d, &ev.u.rows, &arena, &row, err,
                                           sizeof(err)) == SL_OK)
                    ;
            }
            if (ev.kind == SL_BINLOG_K_PAYLOAD) {
                sl_binlog_event_t in;
                int have = 0;
                while (sl_binlog_payload_next(d, &in, &have, err, sizeof(err)) == SL_OK &&
                       have) {
                    if (in.kind != SL_BINLOG_K_ROWS)
                        continue;
                    sl_binlog_row_t row;
                    while (sl_binlog_rows_more(&in.u.rows) &&
                           sl_binlog_rows_next(d, &in.u.rows, &arena, &row, err,
                                               sizeof(err)) == SL_OK)
                        ;
                }
            }
        }
        sl_buf_reset(&tmp);
        sl_arena_reset(&arena);
        off +=
            ev.h.event_size; /* also past a refused event: later ones still get fuzzed */
    }
    sl_binlog_decoder_free(d);
out:
    sl_arena_free(&arena);
    sl_buf_free(&tmp);
    return 0;
}
