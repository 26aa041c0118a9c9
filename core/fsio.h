/* sluice: the file and descriptor chores every durable writer needs, written once:
 * whole writes that survive EINTR and short writes, directory fsync, and mkdir -p that
 * makes new directories durable. Each returns 0, or -1 with errno set. */
#ifndef SL_FSIO_H
#define SL_FSIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Write all n bytes of p to fd. */
int sl_write_all(int fd, const void *p, size_t n);
/* Write all n pieces of v to fd; v is consumed (its entries are advanced past what was
 * written). *written, when not NULL, grows by the bytes written, also on failure. */
int sl_writev_all(int fd, struct iovec *v, int n, uint64_t *written);
/* fsync a directory, so that the entries made in it survive a power loss. */
int sl_fsync_dir(const char *dir);
/* Replace final with the n pieces of v, durably: written to tmp (in dir, final's
 * directory), fsync'd, renamed over final, dir fsync'd. tmp is removed on failure. */
int sl_write_atomic(const char *dir, const char *tmp, const char *final, struct iovec *v,
                    int n);
/* mkdir -p. Each directory it creates has its parent fsync'd, so a file made inside
 * cannot vanish with its freshly made parent after a power loss. path is modified while
 * working and restored. */
int sl_mkdir_p(char *path);

#endif
