/* sluice: the typed column value that source decoders produce and the envelope encodes.
 * Values borrow their bytes (s/len) from the decoder's buffers; nothing is owned here. */
#ifndef SL_VALUE_H
#define SL_VALUE_H

#include <stddef.h>
#include <stdint.h>

typedef enum sl_vkind {
    SL_V_NULL = 0,   /* JSON null */
    SL_V_BOOL,       /* i: 0 or 1 -> false/true */
    SL_V_INT,        /* i: signed 64-bit -> JSON number */
    SL_V_UINT,       /* u: unsigned 64-bit -> JSON number, exact */
    SL_V_DOUBLE,     /* d -> JSON number; NaN/Infinity as strings */
    SL_V_STRING,     /* s/len: text (UTF-8) -> JSON string, escaped */
    SL_V_BYTES,      /* s/len: raw bytes -> base64 JSON string */
    SL_V_JSON,       /* s/len: an already valid JSON fragment, written verbatim (arrays) */
    SL_V_UNCHANGED,  /* value not sent by the source (unchanged TOAST) -> marker string */
} sl_vkind_t;

/* The marker written for SL_V_UNCHANGED; Debezium's default, so its consumers know it. */
#define SL_UNCHANGED_MARKER "__debezium_unavailable_value"

typedef struct sl_value {
    uint8_t kind; /* sl_vkind_t */
    size_t len;
    union {
        int64_t i;
        uint64_t u;
        double d;
        const char *s;
    } v;
} sl_value_t;

#endif
