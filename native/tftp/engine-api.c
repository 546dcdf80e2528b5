/* The engine's entry points (engine.h): threads up and down, transfers in. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine-internal.h"

tftp_engine *tftp_engine_create(int threads, tftp_end_cb cb, void *ctx) {
  engine_init_headers();
  if (threads < 1) threads = 1;
  tftp_engine *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->workers = calloc((size_t)threads, sizeof *e->workers);
  if (!e->workers) {
    free(e);
    return NULL;
  }
  e->cb = cb;
  e->ctx = ctx;
  e->next_id = 1;
  pthread_mutex_init(&e->idlock, NULL);
  for (int i = 0; i < threads; i++) {
    worker *w = &e->workers[i];
    w->engine = e;
    w->earliest = UINT64_MAX;
    pthread_mutex_init(&w->lock, NULL);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (w->epfd < 0 || w->evfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) < 0 ||
        pthread_create(&w->thread, NULL, engine_run, w) != 0) {
      if (w->epfd >= 0) close(w->epfd);
      if (w->evfd >= 0) close(w->evfd);
      e->nworkers = i;
      tftp_engine_destroy(e);
      return NULL;
    }
    e->nworkers = i + 1;
  }
  return e;
}

static void wake(worker *w) {
  uint64_t one = 1;
  (void)!write(w->evfd, &one, sizeof one);
}

uint64_t tftp_engine_start(tftp_engine *e, const tftp_job *job, char *err, size_t errlen) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const char *what = "socket";
  if (fd < 0) goto fail;
  what = "bind";
  if (bind(fd, (const struct sockaddr *)&job->bind_addr, sizeof job->bind_addr) < 0) goto fail;
  what = "connect";
  if (connect(fd, (const struct sockaddr *)&job->client_addr, sizeof job->client_addr) < 0) goto fail;
  transfer *t = calloc(1, sizeof *t);
  what = "alloc";
  if (!t) goto fail;
  if (job->oack_len > 0) {
    t->oack = malloc(job->oack_len);
    if (!t->oack) {
      free(t);
      goto fail;
    }
    memcpy(t->oack, job->oack, job->oack_len);
    t->oack_len = job->oack_len;
  }
  t->fd = fd;
  t->data = job->data;
  t->retransmit_ms = job->retransmit_ms;
  t->user = job->user;
  xfer_init(&t->x, job->size, job->blksize, job->windowsize, job->oack_len > 0, job->max_retries, job->max_retries_before_ack);
  pthread_mutex_lock(&e->idlock);
  uint64_t id = t->id = e->next_id++;
  pthread_mutex_unlock(&e->idlock);
  worker *w = &e->workers[id % (uint64_t)e->nworkers];
  pthread_mutex_lock(&w->lock);
  t->qnext = w->starts;
  w->starts = t;
  pthread_mutex_unlock(&w->lock);
  /* From here the worker owns t: it may have run and freed it before wake() returns. */
  wake(w);
  return id;
fail:;
  int saved = errno;
  snprintf(err, errlen, "%s: %s", what, strerror(saved));
  if (fd >= 0) close(fd);
  errno = saved;
  return 0;
}

void tftp_engine_abort(tftp_engine *e, uint64_t id, const char *reason) {
  abort_req *a = calloc(1, sizeof *a);
  if (!a) return;
  a->id = id;
  snprintf(a->reason, sizeof a->reason, "%s", reason ? reason : "aborted");
  worker *w = &e->workers[id % (uint64_t)e->nworkers];
  pthread_mutex_lock(&w->lock);
  a->next = w->aborts;
  w->aborts = a;
  pthread_mutex_unlock(&w->lock);
  wake(w);
}

void tftp_engine_destroy(tftp_engine *e) {
  for (int i = 0; i < e->nworkers; i++) {
    worker *w = &e->workers[i];
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_mutex_unlock(&w->lock);
    wake(w);
  }
  for (int i = 0; i < e->nworkers; i++) {
    worker *w = &e->workers[i];
    pthread_join(w->thread, NULL);
    close(w->epfd);
    close(w->evfd);
    pthread_mutex_destroy(&w->lock);
  }
  pthread_mutex_destroy(&e->idlock);
  free(e->workers);
  free(e);
}
