/*
 * picluster's native TFTP data path: the transfer state machine of netboot/tftp/transfer.ts
 * (RFC 1350/2347/2348/2349/7440 read transfers, block rollover, no Sorcerer's Apprentice,
 * no amplification before the first ACK) driven by epoll threads in C. No Node headers
 * here: addon.c is the N-API glue.
 */
#ifndef PICLUSTER_TFTP_ENGINE_H
#define PICLUSTER_TFTP_ENGINE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tftp_job {
  const uint8_t *data; /* the file's bytes; must stay valid until the end report */
  size_t size;
  uint32_t blksize;
  uint32_t windowsize;
  const uint8_t *oack; /* encoded OACK or NULL; copied */
  size_t oack_len;
  uint32_t max_retries;
  uint32_t max_retries_before_ack;
  uint32_t retransmit_ms;
  struct sockaddr_in bind_addr;
  struct sockaddr_in client_addr;
  void *user; /* handed back in the end report */
} tftp_job;

typedef struct tftp_end {
  uint64_t id;
  void *user;
  const char *outcome; /* static string */
  char reason[160];
  uint64_t bytes_acked;
  uint64_t bytes_sent;
  uint64_t retransmits;
  int acknowledged;
  uint32_t ignored_malformed;
  uint32_t ignored_unexpected;
} tftp_end;

/* Called on an engine thread; the callee owns `end` (free() it). */
typedef void (*tftp_end_cb)(void *ctx, tftp_end *end);

typedef struct tftp_engine tftp_engine;

tftp_engine *tftp_engine_create(int threads, tftp_end_cb cb, void *ctx);
/* Creates the transfer's socket (bound, connected) and starts it. Returns its id (> 0),
 * or 0 with errno set and `err` filled when the socket could not be set up. */
uint64_t tftp_engine_start(tftp_engine *e, const tftp_job *job, char *err, size_t errlen);
/* Ends a running transfer with outcome `aborted` (no-op when already ended). */
void tftp_engine_abort(tftp_engine *e, uint64_t id, const char *reason);
/* Aborts everything still running (reported), stops and joins the threads, frees. */
void tftp_engine_destroy(tftp_engine *e);

#endif
