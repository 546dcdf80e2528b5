/* The engine's internals, shared by engine.c (the threads' loop) and engine-api.c. */
#ifndef PICLUSTER_TFTP_ENGINE_INTERNAL_H
#define PICLUSTER_TFTP_ENGINE_INTERNAL_H

#include <pthread.h>

#include "engine.h"
#include "transfer.h"

#define BATCH 64

typedef struct transfer {
  uint64_t id;
  int fd;
  const uint8_t *data;
  uint8_t *oack;
  size_t oack_len;
  uint32_t retransmit_ms;
  uint64_t deadline_ms;
  xfer x;
  uint32_t ignored_malformed, ignored_unexpected;
  void *user;
  struct transfer *prev, *next; /* the thread's list */
  struct transfer *qnext;       /* the start queue */
} transfer;

typedef struct abort_req {
  uint64_t id;
  char reason[128];
  struct abort_req *next;
} abort_req;

typedef struct worker {
  struct tftp_engine *engine;
  pthread_t thread;
  int epfd, evfd;
  pthread_mutex_t lock; /* guards the queues and stop */
  transfer *starts;
  abort_req *aborts;
  int stop;
  transfer *list; /* owned by the thread */
  uint64_t earliest;
} worker;

struct tftp_engine {
  int nworkers;
  worker *workers;
  tftp_end_cb cb;
  void *ctx;
  pthread_mutex_t idlock;
  uint64_t next_id;
};

void engine_init_headers(void);
void *engine_run(void *arg); /* a worker's thread */

#endif
