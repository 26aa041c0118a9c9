/* sluice: table schemas and the per-connector schema cache with version numbers.
 * A version is the position of a table shape in that table's history, so replaying the
 * same stream yields the same numbers; the history is stored with the bookmark. */
#ifndef SL_SCHEMA_H
#define SL_SCHEMA_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include "core/buf.h"
#include "core/err.h"

/* JSON type of a column's encoded value, published in the schema document. */
typedef enum sl_jtype {
    SL_JT_STRING = 0,
    SL_JT_INT,
    SL_JT_NUMBER,  /* double */
    SL_JT_BOOL,
    SL_JT_BYTES,   /* base64 string */
    SL_JT_ARRAY,
    SL_JT_JSON,    /* a string holding JSON text */
} sl_jtype_t;

const char *sl_jtype_name(sl_jtype_t t);

typedef struct sl_column {
    char *name;       /* owned */
    char *db_type;    /* owned: the database's type name, e.g. "numeric", "varchar" */
    uint32_t type_id; /* source-specific (postgres: type OID; mysql: column type byte) */
    int32_t typmod;   /* source-specific modifier (postgres atttypmod, mysql metadata) */
    uint8_t jtype;    /* sl_jtype_t */
    uint8_t nullable; /* 1 yes, 0 no, 2 unknown */
    uint8_t key;      /* part of the primary/replica identity key */
    /* owned: the name as a JSON string and a colon ("\"id\":"), as the envelope writes it
     * for every row; not part of the fingerprint */
    char *json_name;
    size_t json_name_len;
} sl_column_t;

typedef struct sl_table {
    char *db;         /* owned: database (postgres database, mysql schema) */
    char *schema;     /* owned: postgres schema, NULL for mysql */
    char *name;       /* owned */
    char *qualified;  /* owned: "<schema or db>.<name>", the topic suffix and map key */
    /* owned: the envelope's source members from "db" up to the value of
     * "schema_version", as JSON text: ,"db":"shop"[,"schema":"public"],"table":"orders",
     * "schema_version": (no schema member when schema is NULL) */
    char *json_source;
    size_t json_source_len;
    uint32_t version; /* 1-based */
    uint64_t fingerprint;
    size_t ncols;
    sl_column_t *cols; /* owned */
    void *priv;       /* source-private per-version data, freed with priv_free */
    void (*priv_free)(void *priv);
} sl_table_t;

/* Build a table shape (not yet versioned). Takes nothing; copies the strings.
 * Columns are added with sl_table_add_column. Caller frees with sl_table_free unless it
 * hands the table to sl_schema_cache_intern. */
sl_table_t *sl_table_new(const char *db, const char *schema, const char *name);
void sl_table_add_column(sl_table_t *t, const char *name, const char *db_type,
                         uint32_t type_id, int32_t typmod, sl_jtype_t jtype, int nullable,
                         int key);
void sl_table_free(sl_table_t *t);
/* Number of key columns. */
size_t sl_table_nkeys(const sl_table_t *t);
/* The schema document published once per version (contract 3.1), appended to out. */
void sl_table_to_json(const sl_table_t *t, sl_buf_t *out);

typedef struct sl_schema_cache sl_schema_cache_t;

sl_schema_cache_t *sl_schema_cache_new(void);
void sl_schema_cache_free(sl_schema_cache_t *c);

/* Give a freshly built shape to the cache. Takes ownership of t. Returns the interned
 * version (t itself with its version set, or an existing identical version, in which
 * case t is freed). The returned table lives as long as the cache. Thread-safe. */
const sl_table_t *sl_schema_cache_intern(sl_schema_cache_t *c, sl_table_t *t);

/* The newest version seen of a table (by qualified name), or NULL. Thread-safe. */
const sl_table_t *sl_schema_cache_latest(sl_schema_cache_t *c, const char *qualified);

/* Append the version history as a JSON object {"<qualified>":["<fp hex>",...],...}. */
void sl_schema_cache_dump(sl_schema_cache_t *c, sl_buf_t *out);

/* Restore the history from sl_schema_cache_dump's text (the bookmark's "schemas" value).
 * Returns SL_ERR_CORRUPT with a sentence in err when the text is not such an object. */
sl_err_t sl_schema_cache_load(sl_schema_cache_t *c, const char *json, size_t len, char *err,
                              size_t errlen);

#endif
