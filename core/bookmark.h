/* sluice: bookmark stores (contract 3.3): one JSON document per connector, behind a small
 * interface; the file store (temp file, fsync, rename, fsync of the directory) is built
 * in. */
#ifndef SL_BOOKMARK_H
#define SL_BOOKMARK_H

#include <stddef.h>
#include <stdint.h>
#include "core/err.h"
#include "core/buf.h"

/* ---- the store interface ----
 * A store keeps each connector's whole bookmark document (its position members,
 * "schemas" and "snapshot"), byte for byte as the committer rendered it. The core only
 * talks to a store through these callbacks; the worker picks the implementation
 * (bookmarks.store) and the core never includes it. Calls on one store come from one
 * thread at a time (the pipeline loads at create, stores from its sink thread). */
typedef struct sl_bookmark_store_ops {
    const char *name; /* "file", "kafka" */
    /* Load the document. *json is NULL (and SL_OK) when there is none; else a
     * NUL-terminated copy the caller frees. *stored_ms: when it was stored (ms since the
     * epoch), 0 when unknown. A document that is not a JSON object is SL_ERR_CORRUPT with
     * a sentence naming where it is (sl_bookmark_check); a store that cannot be reached
     * right now answers SL_ERR_RETRY. */
    sl_err_t (*load)(void *ctx, const char *connector, char **json, int64_t *stored_ms,
                     char *err, size_t errlen);
    /* Replace the document with json[0..len). SL_OK only once it is durable (the file
     * renamed and fsync'd, the Kafka message acknowledged); SL_ERR_RETRY when that could
     * not be confirmed yet (the previous document stays in force). */
    sl_err_t (*store)(void *ctx, const char *connector, const char *json, size_t len,
                      char *err, size_t errlen);
    /* Delete the document (offsets reset). Missing is not an error. */
    sl_err_t (*remove)(void *ctx, const char *connector, char *err, size_t errlen);
    void (*destroy)(void *ctx); /* NULL-safe */
} sl_bookmark_store_ops_t;

/* One store instance: the ops and their context (owned by the instance). */
typedef struct sl_bookmark_store {
    const sl_bookmark_store_ops_t *ops;
    void *ctx;
} sl_bookmark_store_t;

/* A store instance for ops and ctx (takes ownership of ctx: ops->destroy frees it). */
sl_bookmark_store_t *sl_bookmark_store_new(const sl_bookmark_store_ops_t *ops, void *ctx);
/* ops->destroy(ctx), then the instance. NULL-safe. */
void sl_bookmark_store_destroy(sl_bookmark_store_t *st);

/* The file store under data_dir (copied): <data_dir>/bookmarks/<connector>.json through
 * the functions below. stored_ms is the file's modification time. Caller owns. */
sl_bookmark_store_t *sl_bookmark_file_store(const char *data_dir);

/* SL_OK when json[0..len) is a JSON object; else SL_ERR_CORRUPT and the sentence every
 * store gives: "bookmark <where> is corrupt (...); it was left untouched: <repair>set a
 * position with 'sluice offsets set', or remove it ...". where names the document (a
 * path, a topic and offset); repair is "repair it, or " or "". */
sl_err_t sl_bookmark_check(const char *json, size_t len, const char *where,
                           const char *repair, char *err, size_t errlen);

/* ---- the file store ---- */

/* Path of the connector's bookmark file into out (appended). */
void sl_bookmark_path(const char *data_dir, const char *connector, sl_buf_t *out);

/* Load the document. *json is NULL (and SL_OK) when there is no bookmark yet; else a
 * NUL-terminated copy the caller frees. A file that is not a JSON object gives
 * SL_ERR_CORRUPT and a sentence naming the file; the file is left untouched. */
sl_err_t sl_bookmark_load(const char *data_dir, const char *connector, char **json,
                          char *err, size_t errlen);

/* Replace the document atomically; creates <data_dir>/bookmarks/ when missing. */
sl_err_t sl_bookmark_store(const char *data_dir, const char *connector, const char *json,
                           size_t len, char *err, size_t errlen);

/* Delete the document (offsets reset). Missing is not an error. */
sl_err_t sl_bookmark_remove(const char *data_dir, const char *connector, char *err,
                            size_t errlen);

#endif
