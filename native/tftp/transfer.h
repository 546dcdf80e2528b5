/*
 * One read transfer as a pure state machine, a line-by-line port of
 * netboot/tftp/transfer.ts (see its header for the rules: absolute block numbers with the
 * 16-bit wire number rolling over to 0, partial-ACK window restart, duplicate and stale
 * ACKs ignored, one packet outstanding until the first ACK, probes).
 */
#ifndef PICLUSTER_TFTP_TRANSFER_H
#define PICLUSTER_TFTP_TRANSFER_H

#include <stdint.h>

enum xfer_phase { PHASE_NEW, PHASE_OACK_SENT, PHASE_SENDING, PHASE_DONE };
enum step_kind { STEP_SEND, STEP_IGNORE, STEP_DONE };

typedef struct xfer_step {
  enum step_kind kind;
  int oack;           /* SEND: the OACK goes first */
  uint64_t first;     /* SEND: first absolute block */
  uint64_t count;     /* SEND: blocks */
  const char *outcome; /* DONE */
  char reason[128];   /* DONE ("" = none) */
  int send_error;     /* DONE: send ERROR error_code error_message first */
  uint16_t error_code;
  const char *error_message;
} xfer_step;

typedef struct xfer {
  uint64_t size;
  uint32_t blksize;
  uint32_t windowsize;
  int oack;
  uint32_t max_retries;
  uint32_t max_retries_before_ack;
  uint64_t last_block;
  enum xfer_phase phase;
  uint64_t acked;
  uint64_t sent_up_to;
  uint32_t retries;
  int heard;
  uint64_t retransmits;
  uint64_t packets_sent;
  uint64_t payload_bytes_sent;
} xfer;

void xfer_init(xfer *t, uint64_t size, uint32_t blksize, uint32_t windowsize, int oack, uint32_t max_retries,
               uint32_t max_retries_before_ack);
uint64_t xfer_bytes_acked(const xfer *t);
void xfer_start(xfer *t, xfer_step *s);
void xfer_on_ack(xfer *t, uint16_t wire_block, xfer_step *s);
void xfer_on_error(xfer *t, uint16_t code, const char *message, xfer_step *s);
void xfer_on_timeout(xfer *t, xfer_step *s);

#endif
