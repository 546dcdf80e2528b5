/*
 * LD_PRELOAD shim for the power-loss test: logs every write, pwrite, ftruncate, fsync and
 * fdatasync on files whose path starts with $PL_DIR to $PL_LOG, so the test can rebuild the
 * files as a power loss would leave them (only what was written before each file's last sync).
 * Record: u8 op ('W' write, 'T' truncate, 'S' sync), u16 path length, path, i64 offset or size,
 * u32 data length, data. Written with one write(2) each (O_APPEND), after the real call returned.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static const char *dir;

static int path_of(int fd, char *buf, size_t n) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t r = readlink(link, buf, n - 1);
  if (r <= 0) return 0;
  buf[r] = 0;
  if (!dir) dir = getenv("PL_DIR");
  return dir && strncmp(buf, dir, strlen(dir)) == 0;
}

static void record(char op, int fd, int64_t off, const void *data, uint32_t len) {
  char path[4096];
  if (!path_of(fd, path, sizeof path)) return;
  uint16_t plen = (uint16_t)strlen(path);
  size_t total = 1 + 2 + plen + 8 + 4 + len;
  char *buf = malloc(total), *p = buf;
  if (!buf) abort();
  *p++ = op;
  memcpy(p, &plen, 2); p += 2;
  memcpy(p, path, plen); p += plen;
  memcpy(p, &off, 8); p += 8;
  memcpy(p, &len, 4); p += 4;
  if (len) memcpy(p, data, len);
  pthread_mutex_lock(&mu);
  if (log_fd < 0) log_fd = (int)syscall(SYS_open, getenv("PL_LOG"), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (syscall(SYS_write, log_fd, buf, total) != (long)total) abort();
  pthread_mutex_unlock(&mu);
  free(buf);
}

#define REAL(name) static __typeof__(&name) real_##name; if (!real_##name) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

ssize_t pwrite64(int fd, const void *b, size_t n, off_t off) {
  REAL(pwrite64);
  ssize_t r = real_pwrite64(fd, b, n, off);
  if (r > 0) record('W', fd, off, b, (uint32_t)r);
  return r;
}
ssize_t pwrite(int fd, const void *b, size_t n, off_t off) {
  REAL(pwrite);
  ssize_t r = real_pwrite(fd, b, n, off);
  if (r > 0) record('W', fd, off, b, (uint32_t)r);
  return r;
}
ssize_t write(int fd, const void *b, size_t n) {
  REAL(write);
  off_t off = lseek(fd, 0, SEEK_CUR);
  ssize_t r = real_write(fd, b, n);
  if (r > 0 && off >= 0) record('W', fd, off, b, (uint32_t)r);
  return r;
}
int ftruncate64(int fd, off_t len) {
  REAL(ftruncate64);
  int r = real_ftruncate64(fd, len);
  if (r == 0) record('T', fd, len, 0, 0);
  return r;
}
int ftruncate(int fd, off_t len) {
  REAL(ftruncate);
  int r = real_ftruncate(fd, len);
  if (r == 0) record('T', fd, len, 0, 0);
  return r;
}
int fsync(int fd) {
  REAL(fsync);
  int r = real_fsync(fd);
  if (r == 0) record('S', fd, 0, 0, 0);
  return r;
}
int fdatasync(int fd) {
  REAL(fdatasync);
  int r = real_fdatasync(fd);
  if (r == 0) record('S', fd, 0, 0, 0);
  return r;
}
