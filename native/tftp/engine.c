/*
 * The engine's I/O: each thread owns an epoll set of transfers, each transfer its own
 * non-blocking UDP socket bound to the boot address and connected to the client (a new
 * TID, RFC 1350 §4; the kernel drops other sources). A readable socket is drained until
 * EAGAIN and every ACK is answered on the spot, so a lock-step round trip never leaves
 * C; windows go out in one sendmmsg of [4-byte header, slice of the file] iovecs (no
 * copies). Retransmit deadlines are scanned when the earliest one is due.
 */
#define _GNU_SOURCE
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine-internal.h"

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* DATA headers for every 16-bit block number, written once, shared, read-only after. */
static uint8_t headers[65536][4];
static pthread_once_t headers_once = PTHREAD_ONCE_INIT;
static void fill_headers(void) {
  for (int n = 0; n < 65536; n++) {
    headers[n][0] = 0;
    headers[n][1] = 3;
    headers[n][2] = (uint8_t)(n >> 8);
    headers[n][3] = (uint8_t)n;
  }
}

static void end_transfer(worker *w, transfer *t, const char *outcome, const char *reason) {
  if (t->prev) t->prev->next = t->next;
  else w->list = t->next;
  if (t->next) t->next->prev = t->prev;
  epoll_ctl(w->epfd, EPOLL_CTL_DEL, t->fd, NULL);
  close(t->fd);
  tftp_end *e = calloc(1, sizeof *e);
  if (e) {
    e->id = t->id;
    e->user = t->user;
    e->outcome = outcome;
    snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
    e->bytes_acked = xfer_bytes_acked(&t->x);
    e->bytes_sent = t->x.payload_bytes_sent;
    e->retransmits = t->x.retransmits;
    e->acknowledged = t->x.heard;
    e->ignored_malformed = t->ignored_malformed;
    e->ignored_unexpected = t->ignored_unexpected;
    w->engine->cb(w->engine->ctx, e);
  }
  free(t->oack);
  free(t);
}

/* Returns 0, or -1 after ending the transfer on a socket error. */
static int send_step(worker *w, transfer *t, const xfer_step *s) {
  if (s->oack && send(t->fd, t->oack, t->oack_len, 0) < 0 && errno != EAGAIN && errno != ENOBUFS) goto fail;
  uint64_t n = s->first, last = s->first + s->count;
  while (n < last) {
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH][2];
    int k = 0;
    for (; k < BATCH && n + k < last; k++) {
      uint64_t b = n + k;
      uint64_t start = (b - 1) * t->x.blksize;
      uint64_t end = start + t->x.blksize < t->x.size ? start + t->x.blksize : t->x.size;
      iov[k][0].iov_base = headers[b & 0xffff];
      iov[k][0].iov_len = 4;
      iov[k][1].iov_base = (void *)(t->data + start);
      iov[k][1].iov_len = end - start;
      memset(&msgs[k], 0, sizeof msgs[k]);
      msgs[k].msg_hdr.msg_iov = iov[k];
      msgs[k].msg_hdr.msg_iovlen = 2;
    }
    int sent = sendmmsg(t->fd, msgs, (unsigned)k, 0);
    if (sent < 0) {
      if (errno == EAGAIN || errno == ENOBUFS) break; /* lost: the retransmit timer recovers */
      goto fail;
    }
    if (sent == 0) break;
    n += (uint64_t)sent;
  }
  t->deadline_ms = now_ms() + t->retransmit_ms;
  return 0;
fail:;
  char reason[160];
  snprintf(reason, sizeof reason, "socket: send %s", strerror(errno));
  end_transfer(w, t, "error", reason);
  return -1;
}

/* Returns -1 once the transfer has ended (and been freed). */
static int apply(worker *w, transfer *t, const xfer_step *s) {
  switch (s->kind) {
  case STEP_SEND:
    return send_step(w, t, s);
  case STEP_IGNORE:
    return 0;
  case STEP_DONE:
    if (s->send_error) {
      uint8_t pkt[64];
      int m = snprintf((char *)pkt + 4, sizeof pkt - 4, "%s", s->error_message);
      if (m < 0) m = 0;
      if (m > (int)sizeof pkt - 5) m = (int)sizeof pkt - 5; /* truncated: the NUL snprintf wrote ends it */
      size_t len = (size_t)m + 5;
      pkt[0] = 0, pkt[1] = 5, pkt[2] = (uint8_t)(s->error_code >> 8), pkt[3] = (uint8_t)s->error_code;
      (void)send(t->fd, pkt, len, 0);
    }
    end_transfer(w, t, s->outcome, s->reason[0] ? s->reason : NULL);
    return -1;
  }
  return 0;
}

/* One datagram from the client, as session.ts's onMessage. Returns -1 once ended. */
static int on_datagram(worker *w, transfer *t, const uint8_t *p, size_t len) {
  xfer_step s;
  if (len >= 4 && p[0] == 0 && p[1] == 4) {
    xfer_on_ack(&t->x, (uint16_t)(p[2] << 8 | p[3]), &s);
  } else if (len >= 4 && p[0] == 0 && p[1] == 5) {
    /* The message runs to its NUL, or (as codec.ts reads it) to the end of the datagram, or of
       the buffer for one longer than it: copied out bounded, so none of these is dropped. */
    char message[1024];
    size_t n = len - 4;
    const uint8_t *nul = n > 0 ? memchr(p + 4, 0, n) : NULL;
    if (nul) n = (size_t)(nul - (p + 4));
    if (n > sizeof message - 1) n = sizeof message - 1;
    memcpy(message, p + 4, n);
    message[n] = 0;
    xfer_on_error(&t->x, (uint16_t)(p[2] << 8 | p[3]), message, &s);
  } else {
    /* Other opcodes are unexpected here; what does not even carry an opcode is malformed. */
    if (len >= 4 && p[0] == 0 && p[1] >= 1 && p[1] <= 6) t->ignored_unexpected++;
    else t->ignored_malformed++;
    return 0;
  }
  return apply(w, t, &s);
}

static void on_readable(worker *w, transfer *t) {
  static __thread uint8_t buf[BATCH][1024];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  for (int round = 0; round < 16; round++) {
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = buf[i];
      iov[i].iov_len = sizeof buf[i];
      memset(&msgs[i], 0, sizeof msgs[i]);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(t->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      char reason[160];
      snprintf(reason, sizeof reason, "socket: recv %s", strerror(errno));
      end_transfer(w, t, "error", reason);
      return;
    }
    for (int i = 0; i < n; i++)
      if (on_datagram(w, t, buf[i], msgs[i].msg_len) < 0) return;
    if (n < BATCH) return;
  }
}

static void scan_timers(worker *w, uint64_t now) {
  uint64_t earliest = UINT64_MAX;
  for (transfer *t = w->list, *next; t; t = next) {
    next = t->next;
    if (t->deadline_ms <= now) {
      xfer_step s;
      xfer_on_timeout(&t->x, &s);
      if (apply(w, t, &s) < 0) continue;
    }
    if (t->deadline_ms < earliest) earliest = t->deadline_ms;
  }
  w->earliest = earliest;
}

static void take_commands(worker *w) {
  uint64_t v;
  (void)!read(w->evfd, &v, sizeof v);
  pthread_mutex_lock(&w->lock);
  transfer *starts = w->starts;
  abort_req *aborts = w->aborts;
  w->starts = NULL;
  w->aborts = NULL;
  pthread_mutex_unlock(&w->lock);
  /* The queue is LIFO: reverse so transfers start in request order. */
  transfer *ordered = NULL;
  while (starts) {
    transfer *n = starts->qnext;
    starts->qnext = ordered;
    ordered = starts;
    starts = n;
  }
  for (transfer *t = ordered, *n; t; t = n) {
    n = t->qnext;
    t->prev = NULL;
    t->next = w->list;
    if (w->list) w->list->prev = t;
    w->list = t;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = t};
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, t->fd, &ev);
    xfer_step s;
    xfer_start(&t->x, &s);
    if (apply(w, t, &s) == 0 && t->deadline_ms < w->earliest) w->earliest = t->deadline_ms;
  }
  while (aborts) {
    abort_req *a = aborts;
    aborts = a->next;
    for (transfer *t = w->list; t; t = t->next) {
      if (t->id != a->id) continue;
      end_transfer(w, t, "aborted", a->reason);
      break;
    }
    free(a);
  }
}

void engine_init_headers(void) { pthread_once(&headers_once, fill_headers); }

void *engine_run(void *arg) {
  worker *w = arg;
  struct epoll_event evs[BATCH];
  for (;;) {
    uint64_t now = now_ms();
    if (w->earliest <= now) {
      scan_timers(w, now);
      now = now_ms();
    }
    /* Block until a datagram, a command or the earliest deadline (-1: no transfers, no deadline). */
    int timeout = w->earliest == UINT64_MAX ? -1 : w->earliest <= now ? 0 : (int)(w->earliest - now);
    int n = epoll_wait(w->epfd, evs, BATCH, timeout);
    int commands = 0;
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) commands = 1;
      else on_readable(w, evs[i].data.ptr);
    }
    /* After the batch: an abort frees a transfer the batch may still name. */
    if (commands) take_commands(w);
    pthread_mutex_lock(&w->lock);
    int stop = w->stop;
    pthread_mutex_unlock(&w->lock);
    if (stop) break;
  }
  take_commands(w); /* starts queued meanwhile are reported as aborted below */
  while (w->list) end_transfer(w, w->list, "aborted", "server closed");
  return NULL;
}
