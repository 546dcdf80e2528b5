/* The read transfer state machine: see transfer.h and netboot/tftp/transfer.ts. */
#include "transfer.h"

#include <stdio.h>
#include <string.h>

void xfer_init(xfer *t, uint64_t size, uint32_t blksize, uint32_t windowsize, int oack, uint32_t max_retries,
               uint32_t max_retries_before_ack) {
  memset(t, 0, sizeof *t);
  t->size = size;
  t->blksize = blksize;
  t->windowsize = windowsize;
  t->oack = oack;
  t->max_retries = max_retries;
  t->max_retries_before_ack = max_retries_before_ack;
  t->last_block = size / blksize + 1;
  t->phase = PHASE_NEW;
}

uint64_t xfer_bytes_acked(const xfer *t) {
  uint64_t b = t->acked * t->blksize;
  return b < t->size ? b : t->size;
}

static void ignore(xfer_step *s) {
  memset(s, 0, sizeof *s);
  s->kind = STEP_IGNORE;
}

static void finish(xfer *t, xfer_step *s, const char *outcome, const char *reason) {
  t->phase = PHASE_DONE;
  memset(s, 0, sizeof *s);
  s->kind = STEP_DONE;
  s->outcome = outcome;
  if (reason) snprintf(s->reason, sizeof s->reason, "%s", reason);
}

static void send_window(xfer *t, uint64_t first, xfer_step *s) {
  /* One packet outstanding until the source has proved it is real. */
  uint64_t window = t->heard ? t->windowsize : 1;
  uint64_t last = first + window - 1;
  if (last > t->last_block) last = t->last_block;
  uint64_t count = last - first + 1;
  if (t->sent_up_to >= first) t->retransmits += (t->sent_up_to < last ? t->sent_up_to : last) - first + 1;
  if (last > t->sent_up_to) t->sent_up_to = last;
  t->packets_sent += count;
  uint64_t start = (first - 1) * t->blksize;
  uint64_t end = last * t->blksize;
  if (end > t->size) end = t->size;
  t->payload_bytes_sent += end - start;
  memset(s, 0, sizeof *s);
  s->kind = STEP_SEND;
  s->first = first;
  s->count = count;
}

static void send_oack(xfer *t, xfer_step *s) {
  t->packets_sent++;
  memset(s, 0, sizeof *s);
  s->kind = STEP_SEND;
  s->oack = 1;
  s->first = 1;
  s->count = 0;
}

void xfer_start(xfer *t, xfer_step *s) {
  if (t->oack) {
    t->phase = PHASE_OACK_SENT;
    send_oack(t, s);
    return;
  }
  t->phase = PHASE_SENDING;
  send_window(t, 1, s);
}

void xfer_on_ack(xfer *t, uint16_t wire_block, xfer_step *s) {
  if (t->phase == PHASE_DONE || t->phase == PHASE_NEW) return ignore(s);
  if (t->phase == PHASE_OACK_SENT) {
    if (wire_block != 0) return ignore(s);
    t->phase = PHASE_SENDING;
    t->retries = 0;
    t->heard = 1;
    send_window(t, 1, s);
    return;
  }
  uint64_t distance = (uint16_t)(wire_block - (uint16_t)(t->acked & 0xffff));
  if (distance == 0) return ignore(s);                      /* duplicate: no Sorcerer's Apprentice */
  if (distance > t->sent_up_to - t->acked) return ignore(s); /* stale */
  t->acked += distance;
  t->retries = 0;
  t->heard = 1;
  if (t->acked >= t->last_block) return finish(t, s, "complete", NULL);
  send_window(t, t->acked + 1, s);
}

void xfer_on_error(xfer *t, uint16_t code, const char *message, xfer_step *s) {
  if (t->phase == PHASE_DONE) return ignore(s);
  char reason[128];
  snprintf(reason, sizeof reason, "client error %u: %s", code, message);
  finish(t, s, t->acked <= 1 ? "probe" : "client-error", reason);
}

void xfer_on_timeout(xfer *t, xfer_step *s) {
  if (t->phase == PHASE_DONE || t->phase == PHASE_NEW) return ignore(s);
  char reason[128];
  if (!t->heard) {
    if (t->retries >= t->max_retries_before_ack) {
      snprintf(reason, sizeof reason, "no ACK from the source after %u retransmits", t->retries);
      return finish(t, s, "no-ack", reason);
    }
  } else if (t->retries >= t->max_retries) {
    snprintf(reason, sizeof reason, "no ACK after %u retransmits", t->retries);
    finish(t, s, "timeout", reason);
    s->send_error = 1;
    s->error_code = 0;
    s->error_message = "timeout";
    return;
  }
  t->retries++;
  if (t->phase == PHASE_OACK_SENT) {
    t->retransmits++;
    send_oack(t, s);
    return;
  }
  send_window(t, t->acked + 1, s);
}
