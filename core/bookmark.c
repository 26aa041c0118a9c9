/* sluice: the bookmark store interface and the file store; a crash at any instant leaves
 * the old or the new document. A corrupt document stops the worker with a clear error and
 * is never overwritten. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "core/bookmark.h"
#include "core/fsio.h"

sl_bookmark_store_t *sl_bookmark_store_new(const sl_bookmark_store_ops_t *ops, void *ctx)
{
    sl_bookmark_store_t *st = calloc(1, sizeof(*st));
    if (!st)
        abort();
    st->ops = ops;
    st->ctx = ctx;
    return st;
}

void sl_bookmark_store_destroy(sl_bookmark_store_t *st)
{
    if (!st)
        return;
    if (st->ops && st->ops->destroy)
        st->ops->destroy(st->ctx);
    free(st);
}

sl_err_t sl_bookmark_check(const char *json, size_t len, const char *where,
                           const char *repair, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json ? json : "", json ? len : 0, 0, &jerr);
    sl_err_t rc = SL_OK;
    if (!root || !json_is_object(root))
        rc = sl_err_set(err, errlen, SL_ERR_CORRUPT,
                        "bookmark %s is corrupt (%s at line %d); it was left untouched: "
                        "%sset a position with 'sluice offsets set', or remove it with "
                        "'sluice offsets reset' to start over",
                        where, root ? "not a JSON object" : jerr.text, jerr.line, repair);
    json_decref(root);
    return rc;
}

static void dir_path(const char *data_dir, sl_buf_t *out)
{
    sl_buf_puts(out, data_dir);
    sl_buf_puts(out, "/bookmarks");
}

void sl_bookmark_path(const char *data_dir, const char *connector, sl_buf_t *out)
{
    dir_path(data_dir, out);
    sl_buf_printf(out, "/%s.json", connector);
}

sl_err_t sl_bookmark_load(const char *data_dir, const char *connector, char **json,
                          char *err, size_t errlen)
{
    *json = NULL;
    sl_buf_t path = SL_BUF_INIT, data = SL_BUF_INIT;
    sl_err_t rc = SL_OK;
    sl_bookmark_path(data_dir, connector, &path);
    FILE *f = fopen(path.data, "rb");
    if (!f) {
        if (errno != ENOENT)
            rc = sl_err_set(err, errlen, SL_ERR_IO, "cannot read bookmark %s: %s", path.data,
                            strerror(errno));
        goto out;
    }
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        sl_buf_append(&data, chunk, n);
    if (ferror(f)) {
        rc = sl_err_set(err, errlen, SL_ERR_IO, "cannot read bookmark %s: %s", path.data,
                        strerror(errno));
        fclose(f);
        goto out;
    }
    fclose(f);
    rc = sl_bookmark_check(data.data, data.len, path.data, "repair it, or ", err, errlen);
    if (rc)
        goto out;
    *json = sl_buf_steal(&data);
out:
    sl_buf_free(&path);
    sl_buf_free(&data);
    return rc;
}

sl_err_t sl_bookmark_store(const char *data_dir, const char *connector, const char *json,
                           size_t len, char *err, size_t errlen)
{
    sl_buf_t dir = SL_BUF_INIT, path = SL_BUF_INIT, tmp = SL_BUF_INIT;
    sl_err_t rc = SL_OK;
    dir_path(data_dir, &dir);
    sl_bookmark_path(data_dir, connector, &path);
    sl_buf_printf(&tmp, "%s/.%s.json.tmp", dir.data, connector);
    if (sl_mkdir_p(dir.data) != 0) {
        rc = sl_err_set(err, errlen, SL_ERR_IO, "cannot create %s: %s", dir.data,
                        strerror(errno));
        goto out;
    }
    struct iovec v[2] = {{(void *)(uintptr_t)json, len}, {(void *)(uintptr_t)"\n", 1}};
    if (sl_write_atomic(dir.data, tmp.data, path.data, v, 2) != 0)
        rc = sl_err_set(err, errlen, SL_ERR_IO, "cannot store bookmark %s: %s", path.data,
                        strerror(errno));
out:
    sl_buf_free(&dir);
    sl_buf_free(&path);
    sl_buf_free(&tmp);
    return rc;
}

sl_err_t sl_bookmark_remove(const char *data_dir, const char *connector, char *err,
                            size_t errlen)
{
    sl_buf_t path = SL_BUF_INIT, dir = SL_BUF_INIT;
    sl_err_t rc = SL_OK;
    sl_bookmark_path(data_dir, connector, &path);
    dir_path(data_dir, &dir);
    if (unlink(path.data) != 0 && errno != ENOENT)
        rc = sl_err_set(err, errlen, SL_ERR_IO, "cannot remove bookmark %s: %s", path.data,
                        strerror(errno));
    else
        sl_fsync_dir(dir.data);
    sl_buf_free(&path);
    sl_buf_free(&dir);
    return rc;
}

/* ---- the file store behind the interface: ctx is the data_dir (owned copy) ---- */

static sl_err_t file_load(void *ctx, const char *connector, char **json,
                          int64_t *stored_ms, char *err, size_t errlen)
{
    *stored_ms = 0;
    sl_err_t rc = sl_bookmark_load(ctx, connector, json, err, errlen);
    if (rc || !*json)
        return rc;
    /* the bookmark's age counts from when it was written, not from this start */
    sl_buf_t path = SL_BUF_INIT;
    struct stat st;
    sl_bookmark_path(ctx, connector, &path);
    if (stat(path.data, &st) == 0)
        *stored_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    sl_buf_free(&path);
    return SL_OK;
}

static sl_err_t file_store(void *ctx, const char *connector, const char *json, size_t len,
                           char *err, size_t errlen)
{
    return sl_bookmark_store(ctx, connector, json, len, err, errlen);
}

static sl_err_t file_remove(void *ctx, const char *connector, char *err, size_t errlen)
{
    return sl_bookmark_remove(ctx, connector, err, errlen);
}

static const sl_bookmark_store_ops_t file_ops = {
    .name = "file",
    .load = file_load,
    .store = file_store,
    .remove = file_remove,
    .destroy = free,
};

sl_bookmark_store_t *sl_bookmark_file_store(const char *data_dir)
{
    char *dir = strdup(data_dir);
    if (!dir)
        abort();
    return sl_bookmark_store_new(&file_ops, dir);
}
