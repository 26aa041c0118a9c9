/* sluice: a source position, the unit of bookmarks, ordering and file naming.
 * Totally ordered by (major, index); what the numbers mean belongs to the source. */
#ifndef SL_POS_H
#define SL_POS_H

#include <stdint.h>
#include <stddef.h>

/* index value meaning "the whole unit named by major is covered" (transaction done) */
#define SL_POS_DONE UINT32_MAX

typedef struct sl_pos {
    uint64_t major; /* postgres: commit LSN of the transaction (Begin.final_lsn);
                       mysql: (binlog file sequence << 40) | transaction start offset */
    uint64_t minor; /* postgres: end LSN of the commit record when index == SL_POS_DONE;
                       otherwise source-private auxiliary data, not part of the order */
    uint32_t index; /* 1-based event index within the unit; SL_POS_DONE when complete */
    uint32_t flags; /* SL_POS_F_* below; the rest is source-private */
} sl_pos_t;

/* A snapshot row (op r) placed between two stream positions: `minor` is the stream
 * position to resume from (what the source's bookmark renders for it), and the snapshot
 * progress stored with the bookmark says which rows are durable. */
#define SL_POS_F_SNAPSHOT 0x1u

static inline int sl_pos_cmp(const sl_pos_t *a, const sl_pos_t *b)
{
    if (a->major != b->major)
        return a->major < b->major ? -1 : 1;
    if (a->index != b->index)
        return a->index < b->index ? -1 : 1;
    return 0;
}

static inline int sl_pos_is_zero(const sl_pos_t *p)
{
    return p->major == 0 && p->index == 0;
}

/* Fixed-width, lexically sortable text of a position ("0000000001a2b3c4-00000003"),
 * used in file names. out must hold SL_POS_KEY_LEN + 1 bytes. */
#define SL_POS_KEY_LEN 25
void sl_pos_key(const sl_pos_t *p, char *out);
/* Parse sl_pos_key's text back; returns 0 on success, -1 when s is not such a key. */
int sl_pos_key_parse(const char *s, size_t n, sl_pos_t *p);

#endif
