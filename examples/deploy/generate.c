/* Text from an exported character model, in plain C11: the model's library (rnnc export) and
 * nothing of rnnc's C++, its compiler or LLVM.
 *
 *   rnnc train --save run && rnnc export run/best.safetensors --out model
 *   cmake -S examples/deploy -B deploy -Dmodel_DIR=$PWD/model && cmake --build deploy
 *   deploy/generate -n 200 -p "The " -t 0.8 -s 1        (-t 0: the most likely character each time)
 *
 * It does what `rnnc sample` does: the prime's characters one step each, then each character drawn
 * from the last step's logits and fed back. Greedy, the two print the same text.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* The vocabulary: character i is the i-th UTF-8 sequence of the model's "vocab" metadata. */
typedef struct {
  const char* at[model_output_size];
  int bytes[model_output_size];
  int size;
} vocab;

/* Bytes of the UTF-8 character at p, never past the string's end. */
static int utf8_length(const char* p) {
  const unsigned char lead = (unsigned char)*p;
  const int n = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
  int k = 1;
  while (k < n && p[k]) ++k;
  return k;
}

static int read_vocab(const char* text, vocab* v) {
  v->size = 0;
  for (const char* p = text; *p && v->size < model_output_size; p += v->bytes[v->size++]) {
    v->at[v->size] = p;
    v->bytes[v->size] = utf8_length(p);
  }
  return v->size == model_output_size;
}

/* The id of the character at text (-1: not in the vocabulary); *used gets its length in bytes. */
static int id_of(const vocab* v, const char* text, int* used) {
  *used = utf8_length(text);
  for (int i = 0; i < v->size; ++i)
    if (v->bytes[i] == *used && memcmp(v->at[i], text, (size_t)*used) == 0) return i;
  return -1;
}

/* xorshift64*: a uniform double in [0, 1). */
static double uniform(uint64_t* s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return (double)((*s * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* The first most likely character when temperature <= 0, else one drawn from softmax(logits / t). */
static int pick(const float* logits, double temperature, uint64_t* rng) {
  int best = 0;
  for (int i = 1; i < model_output_size; ++i)
    if (logits[i] > logits[best]) best = i;
  if (temperature <= 0) return best;
  double w[model_output_size], total = 0;
  for (int i = 0; i < model_output_size; ++i) total += w[i] = exp((logits[i] - logits[best]) / temperature);
  double u = uniform(rng) * total;
  for (int i = 0; i < model_output_size; ++i)
    if ((u -= w[i]) < 0) return i;
  return best;
}

int main(int argc, char** argv) {
  int n = 200;
  const char* prime = "T";
  double temperature = 0;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "-n"))
      n = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "-p"))
      prime = argv[i + 1];
    else if (!strcmp(argv[i], "-t"))
      temperature = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "-s"))
      seed = strtoull(argv[i + 1], NULL, 10) * 2 + 1;
    else {
      fprintf(stderr, "usage: %s [-n chars] [-p prime] [-t temperature] [-s seed]\n", argv[0]);
      return 2;
    }
  }
  char err[256];
  model* m = model_new(1, err, sizeof err); /* one thread: a step is a few microseconds */
  if (!m) {
    fprintf(stderr, "generate: %s\n", err);
    return 1;
  }
  vocab v;
  if (!model_metadata(m, "vocab") || !read_vocab(model_metadata(m, "vocab"), &v)) {
    fprintf(stderr, "generate: the model has no vocabulary of %d characters\n", model_output_size);
    return 1;
  }
  model_state* s = model_state_new(m, err, sizeof err);
  if (!s || !*prime) {
    fprintf(stderr, "generate: %s\n", s ? "an empty prime" : err);
    return 1;
  }
  float logits[model_output_size];
  int32_t c = 0;
  for (const char* p = prime; *p;) {
    int used;
    if ((c = id_of(&v, p, &used)) < 0) {
      fprintf(stderr, "generate: the prime's character '%.*s' is not in the model's vocabulary\n", used, p);
      return 1;
    }
    if (model_step(m, s, &c, logits, err, sizeof err) != 0) {
      fprintf(stderr, "generate: %s\n", err);
      return 1;
    }
    fwrite(p, 1, (size_t)used, stdout);
    p += used;
  }
  for (int i = 0; i < n; ++i) {
    c = pick(logits, temperature, &seed);
    fwrite(v.at[c], 1, (size_t)v.bytes[c], stdout);
    if (i + 1 < n && model_step(m, s, &c, logits, err, sizeof err) != 0) {
      fprintf(stderr, "generate: %s\n", err);
      return 1;
    }
  }
  putchar('\n');
  model_state_free(s);
  model_free(m);
  return 0;
}
