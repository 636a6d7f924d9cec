/* power_cut.so: an LD_PRELOAD shim that simulates losing the power supply.
 *
 * It watches every file under $POWER_CUT_DIR (an absolute path) that the process
 * changes and keeps an undo log of what is not durable yet:
 *   - data: write, pwrite, pwrite64, writev, ftruncate and O_TRUNC (the bytes and size
 *     before the change), durable once the file is fsync'ed or fdatasync'ed;
 *   - names: files created and renames (the replaced target is kept aside through a
 *     hard link), durable once the directory holding them is fsync'ed;
 *   - syncfs() and sync() make everything durable.
 * When a byte is written into the FIFO $POWER_CUT_FIFO (a watcher thread waits on it),
 * or at the start of the N-th syncfs() call when $POWER_CUT_AT_SYNCFS is N (the worst
 * moment for a group commit: rows and blobs written, nothing synced), the shim stops every tracked write (they all pass one lock), undoes the log newest
 * first -- leaving each file as the disk would hold it after a power cut -- writes a
 * one-line summary to $POWER_CUT_REPORT (optional) and kills the process with SIGKILL.
 *
 * Deliberately pessimistic: it keeps nothing that was not synced, as a disk with a
 * volatile cache that honours flushes would. Not modelled: unlink (taken as durable at
 * once), writes through mmap (only SQLite's -shm, which is rebuilt after a crash, is
 * written that way; *-shm files are not tracked), and O_DIRECT.
 * Test-only (tests/faults/power_loss.sh); never part of the tresor binary.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum kind { K_DATA, K_CREATE, K_RENAME };

struct entry {
  enum kind kind;
  dev_t dev;      /* K_DATA: the file changed */
  ino_t ino;
  char *path;     /* K_DATA, K_CREATE: the file; K_RENAME: the old name */
  char *path2;    /* K_RENAME: the new name */
  char *shadow;   /* K_RENAME: where the replaced target was kept, or NULL */
  off_t offset;   /* K_DATA: where the old bytes go back */
  char *old;      /* K_DATA: the bytes [offset, offset + old_len) before the change */
  size_t old_len;
  off_t old_size; /* K_DATA: the file size before the change */
  int live;       /* 0 once durable */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry *log_entries;
static size_t log_len, log_cap;
static char dir[PATH_MAX];
static size_t dir_len;
static char *fd_path[65536];
static unsigned long shadow_seq;
static long cut_at_syncfs; /* 0: never */
static long syncfs_calls;

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off64_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_syncfs)(int);
static void (*real_sync)(void);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_close)(int);

#define RESOLVE(name) real_##name = dlsym(RTLD_NEXT, #name)

static int tracked(const char *path) {
  if (dir_len == 0 || path == NULL) return 0;
  if (strncmp(path, dir, dir_len) != 0 || (path[dir_len] != '/' && path[dir_len] != 0)) return 0;
  size_t n = strlen(path);
  return !(n > 4 && strcmp(path + n - 4, "-shm") == 0);
}

/* The absolute path of `path` relative to `dirfd` (AT_FDCWD or a directory fd). */
static void absolute(int dirfd, const char *path, char *out) {
  if (path[0] == '/') {
    snprintf(out, PATH_MAX, "%s", path);
    return;
  }
  char base[PATH_MAX] = "";
  if (dirfd == AT_FDCWD) {
    if (!getcwd(base, sizeof base)) base[0] = 0;
  } else {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
    ssize_t n = readlink(link, base, sizeof base - 1);
    base[n > 0 ? n : 0] = 0;
  }
  snprintf(out, PATH_MAX, "%s/%s", base, path);
}

static struct entry *append(enum kind kind) {
  if (log_len == log_cap) {
    log_cap = log_cap ? log_cap * 2 : 1024;
    log_entries = realloc(log_entries, log_cap * sizeof *log_entries);
    if (!log_entries) abort();
  }
  struct entry *e = &log_entries[log_len++];
  memset(e, 0, sizeof *e);
  e->kind = kind;
  e->live = 1;
  return e;
}

/* Records the bytes [offset, offset + n) of the file behind `fd` before they change
 * (and its size), for the power cut to put back. Called with `mu` held. */
static void save_range(int fd, off_t offset, size_t n) {
  struct stat st, named;
  if (fd < 0 || fd >= 65536 || !fd_path[fd] || fstat(fd, &st) != 0) return;
  if (!S_ISREG(st.st_mode) || stat(fd_path[fd], &named) != 0 || named.st_dev != st.st_dev ||
      named.st_ino != st.st_ino) {
    return; /* not the file this fd was opened on (closed behind the shim's back, renamed) */
  }
  struct entry *e = append(K_DATA);
  e->dev = st.st_dev;
  e->ino = st.st_ino;
  e->path = strdup(fd_path[fd]);
  e->offset = offset;
  e->old_size = st.st_size;
  if (offset < st.st_size) {
    size_t keep = (size_t)(st.st_size - offset) < n ? (size_t)(st.st_size - offset) : n;
    e->old = malloc(keep ? keep : 1);
    int rfd = real_open(fd_path[fd], O_RDONLY | O_CLOEXEC);
    ssize_t got = rfd >= 0 ? pread(rfd, e->old, keep, offset) : -1;
    if (rfd >= 0) real_close(rfd);
    e->old_len = got > 0 ? (size_t)got : 0;
  }
}

/* Everything of the file (fsync) or the directory entries in a directory (fsync of a
 * directory) is durable now. */
static void durable_fd(int fd) {
  struct stat st;
  if (fd < 0 || fd >= 65536 || !fd_path[fd] || fstat(fd, &st) != 0) return;
  const char *p = fd_path[fd];
  size_t n = strlen(p);
  for (size_t i = 0; i < log_len; ++i) {
    struct entry *e = &log_entries[i];
    if (!e->live) continue;
    if (e->kind == K_DATA) {
      if (e->dev == st.st_dev && e->ino == st.st_ino) e->live = 0;
    } else if (S_ISDIR(st.st_mode)) {
      const char *name = e->kind == K_RENAME ? e->path2 : e->path;
      const char *slash = strrchr(name, '/');
      if (slash && (size_t)(slash - name) == n && strncmp(name, p, n) == 0) {
        /* For a rename both directories must be synced; this test archive's renames
         * that matter stay in one filesystem synced by syncfs, so one is taken as enough. */
        if (e->shadow) unlink(e->shadow);
        e->live = 0;
      }
    }
  }
}

static void forget(struct entry *e) {
  if (e->shadow) unlink(e->shadow); /* the replaced file is gone for good now */
  free(e->path);
  free(e->path2);
  free(e->shadow);
  free(e->old);
  memset(e, 0, sizeof *e);
}

static void durable_all(void) {
  for (size_t i = 0; i < log_len; ++i) forget(&log_entries[i]);
  log_len = 0;
}

static void power_cut(void) {
  pthread_mutex_lock(&mu); /* never released: the process dies below */
  size_t data = 0, created = 0, renamed = 0;
  for (size_t i = log_len; i-- > 0;) {
    struct entry *e = &log_entries[i];
    if (!e->live) continue;
    if (e->kind == K_DATA) {
      int fd = real_open(e->path, O_WRONLY | O_CLOEXEC);
      if (fd < 0) continue;
      if (e->old_len) (void)pwrite(fd, e->old, e->old_len, e->offset);
      struct stat st;
      if (fstat(fd, &st) == 0 && st.st_size != e->old_size) (void)real_ftruncate(fd, e->old_size);
      real_close(fd);
      ++data;
    } else if (e->kind == K_CREATE) {
      unlink(e->path);
      ++created;
    } else {
      real_rename(e->path2, e->path);
      if (e->shadow) real_rename(e->shadow, e->path2);
      ++renamed;
    }
  }
  const char *report = getenv("POWER_CUT_REPORT");
  if (report && *report) {
    FILE *f = fopen(report, "w");
    if (f) {
      fprintf(f, "undone: %zu writes, %zu created files, %zu renames\n", data, created, renamed);
      fflush(f);
      fsync(fileno(f));
      fclose(f);
    }
  }
  kill(getpid(), SIGKILL);
  for (;;) pause();
}

static void *watch(void *fifo) {
  for (;;) {
    int fd = real_open((const char *)fifo, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    char c;
    ssize_t n = read(fd, &c, 1);
    real_close(fd);
    if (n == 1) power_cut();
  }
}

__attribute__((constructor)) static void init(void) {
  RESOLVE(open);
  RESOLVE(openat);
  RESOLVE(write);
  RESOLVE(pwrite);
  RESOLVE(pwrite64);
  RESOLVE(writev);
  RESOLVE(ftruncate);
  RESOLVE(ftruncate64);
  RESOLVE(fsync);
  RESOLVE(fdatasync);
  RESOLVE(syncfs);
  RESOLVE(sync);
  RESOLVE(rename);
  RESOLVE(renameat);
  RESOLVE(close);
  const char *d = getenv("POWER_CUT_DIR");
  if (d && d[0] == '/' && strlen(d) < sizeof dir) {
    snprintf(dir, sizeof dir, "%s", d);
    dir_len = strlen(dir);
    while (dir_len > 1 && dir[dir_len - 1] == '/') dir[--dir_len] = 0;
  }
  const char *at = getenv("POWER_CUT_AT_SYNCFS");
  if (at && *at) cut_at_syncfs = strtol(at, NULL, 10);
  const char *fifo = getenv("POWER_CUT_FIFO");
  if (dir_len && fifo && *fifo) {
    pthread_t t;
    /* Start the watcher with every signal blocked, so it never takes the process's. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_create(&t, NULL, watch, strdup(fifo));
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_detach(t);
  }
}

/* --- the intercepted calls --- */

static int do_open(int dirfd, const char *path, int flags, mode_t mode) {
  char abs[PATH_MAX];
  absolute(dirfd, path, abs);
  if (!tracked(abs)) {
    return dirfd == AT_FDCWD ? real_open(path, flags, mode) : real_openat(dirfd, path, flags, mode);
  }
  pthread_mutex_lock(&mu);
  struct stat st;
  int existed = stat(abs, &st) == 0;
  if (existed && (flags & O_TRUNC) && st.st_size > 0 && S_ISREG(st.st_mode)) {
    int rfd = real_open(abs, O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
      if (rfd < 65536) fd_path[rfd] = strdup(abs);
      save_range(rfd, 0, (size_t)st.st_size);
      free(fd_path[rfd]);
      fd_path[rfd] = NULL;
      real_close(rfd);
    }
  }
  int fd = dirfd == AT_FDCWD ? real_open(path, flags, mode) : real_openat(dirfd, path, flags, mode);
  if (fd >= 0) {
    if (!existed && (flags & O_CREAT)) append(K_CREATE)->path = strdup(abs);
    if (fd < 65536) {
      free(fd_path[fd]);
      fd_path[fd] = strdup(abs);
    }
  }
  pthread_mutex_unlock(&mu);
  return fd;
}

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_open(AT_FDCWD, path, flags, mode);
}
int open64(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_open(AT_FDCWD, path, flags, mode);
}
int openat(int dirfd, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_open(dirfd, path, flags, mode);
}
int openat64(int dirfd, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_open(dirfd, path, flags, mode);
}

static int is_tracked_fd(int fd) { return fd >= 0 && fd < 65536 && fd_path[fd] != NULL; }

ssize_t write(int fd, const void *buf, size_t n) {
  if (!is_tracked_fd(fd)) return real_write(fd, buf, n);
  pthread_mutex_lock(&mu);
  off_t at = lseek(fd, 0, SEEK_CUR);
  if (at >= 0) save_range(fd, at, n);
  ssize_t r = real_write(fd, buf, n);
  pthread_mutex_unlock(&mu);
  return r;
}
ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset) {
  if (!is_tracked_fd(fd)) return real_pwrite(fd, buf, n, offset);
  pthread_mutex_lock(&mu);
  save_range(fd, offset, n);
  ssize_t r = real_pwrite(fd, buf, n, offset);
  pthread_mutex_unlock(&mu);
  return r;
}
ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t offset) {
  if (!is_tracked_fd(fd)) return real_pwrite64(fd, buf, n, offset);
  pthread_mutex_lock(&mu);
  save_range(fd, (off_t)offset, n);
  ssize_t r = real_pwrite64(fd, buf, n, offset);
  pthread_mutex_unlock(&mu);
  return r;
}
ssize_t writev(int fd, const struct iovec *iov, int count) {
  if (!is_tracked_fd(fd)) return real_writev(fd, iov, count);
  pthread_mutex_lock(&mu);
  size_t n = 0;
  for (int i = 0; i < count; ++i) n += iov[i].iov_len;
  off_t at = lseek(fd, 0, SEEK_CUR);
  if (at >= 0) save_range(fd, at, n);
  ssize_t r = real_writev(fd, iov, count);
  pthread_mutex_unlock(&mu);
  return r;
}
static int do_truncate(int fd, off_t len, int wide) {
  if (!is_tracked_fd(fd)) return wide ? real_ftruncate64(fd, len) : real_ftruncate(fd, len);
  pthread_mutex_lock(&mu);
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_size > len) {
    save_range(fd, len, (size_t)(st.st_size - len));
  } else {
    save_range(fd, st.st_size, 0);
  }
  int r = wide ? real_ftruncate64(fd, len) : real_ftruncate(fd, len);
  pthread_mutex_unlock(&mu);
  return r;
}
int ftruncate(int fd, off_t len) { return do_truncate(fd, len, 0); }
int ftruncate64(int fd, off64_t len) { return do_truncate(fd, (off_t)len, 1); }

int fsync(int fd) {
  int r = real_fsync(fd);
  if (r == 0 && is_tracked_fd(fd)) {
    pthread_mutex_lock(&mu);
    durable_fd(fd);
    pthread_mutex_unlock(&mu);
  }
  return r;
}
int fdatasync(int fd) {
  int r = real_fdatasync(fd);
  if (r == 0 && is_tracked_fd(fd)) {
    pthread_mutex_lock(&mu);
    durable_fd(fd);
    pthread_mutex_unlock(&mu);
  }
  return r;
}
int syncfs(int fd) {
  if (dir_len && cut_at_syncfs > 0 && __atomic_add_fetch(&syncfs_calls, 1, __ATOMIC_SEQ_CST) == cut_at_syncfs) {
    power_cut();
  }
  pthread_mutex_lock(&mu);
  int r = real_syncfs(fd);
  if (r == 0) durable_all();
  pthread_mutex_unlock(&mu);
  return r;
}
void sync(void) {
  pthread_mutex_lock(&mu);
  real_sync();
  durable_all();
  pthread_mutex_unlock(&mu);
}

static int do_rename(int olddirfd, const char *from, int newdirfd, const char *to) {
  char a[PATH_MAX], b[PATH_MAX];
  absolute(olddirfd, from, a);
  absolute(newdirfd, to, b);
  if (!tracked(a) && !tracked(b)) {
    return (olddirfd == AT_FDCWD && newdirfd == AT_FDCWD) ? real_rename(from, to)
                                                          : real_renameat(olddirfd, from, newdirfd, to);
  }
  pthread_mutex_lock(&mu);
  char *shadow = NULL;
  struct stat st;
  if (stat(b, &st) == 0 && S_ISREG(st.st_mode)) {
    char s[PATH_MAX + 64];
    snprintf(s, sizeof s, "%s/.power-cut-shadow.%d.%lu", dir, (int)getpid(), ++shadow_seq);
    if (link(b, s) == 0) shadow = strdup(s);
  }
  int r = real_rename(a, b);
  if (r == 0) {
    struct entry *e = append(K_RENAME);
    e->path = strdup(a);
    e->path2 = strdup(b);
    e->shadow = shadow;
  } else if (shadow) {
    unlink(shadow);
    free(shadow);
  }
  pthread_mutex_unlock(&mu);
  return r;
}
int rename(const char *from, const char *to) { return do_rename(AT_FDCWD, from, AT_FDCWD, to); }
int renameat(int olddirfd, const char *from, int newdirfd, const char *to) {
  return do_rename(olddirfd, from, newdirfd, to);
}

int close(int fd) {
  if (is_tracked_fd(fd)) {
    pthread_mutex_lock(&mu);
    free(fd_path[fd]);
    fd_path[fd] = NULL;
    pthread_mutex_unlock(&mu);
  }
  return real_close(fd);
}
