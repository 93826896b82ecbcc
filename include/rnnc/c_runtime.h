/* The run time's C interface: a program (the bytes export_program writes, rnnc/export.h) and its
 * kernel table, run on plain buffers. C11, no C++ in its types, no global state; errors are
 * return codes with a message. What an exported model's library is built on.
 *
 *   char err[256];
 *   rnnc_program* p = rnnc_program_new(bytes, size, model_kernels, model_kernel_count, 2, err, sizeof err);
 *   if (!p) { fprintf(stderr, "%s\n", err); return 1; }
 *   const void* in[] = {x, h};  void* out[] = {y, h_next};
 *   if (rnnc_program_run(p, in, out, err, sizeof err) != RNNC_OK) ...
 *   rnnc_program_free(p);
 */
#ifndef RNNC_C_RUNTIME_H
#define RNNC_C_RUNTIME_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A kernel: args[i] points at argument i's first element; the outermost axis runs [begin, end). */
typedef void (*rnnc_kernel_fn)(void* const* args, int64_t begin, int64_t end);
typedef struct rnnc_program rnnc_program;

enum { RNNC_OK = 0, RNNC_ERROR = 1 };
/* Element types, as rnnc's DType. */
enum { RNNC_F32 = 0, RNNC_F64 = 1, RNNC_I32 = 2, RNNC_BF16 = 3, RNNC_I8 = 4 };

/* The shape and type of one input or output. */
typedef struct rnnc_spec {
  int rank;
  const int64_t* shape; /* rank extents, owned by the program */
  int dtype;            /* RNNC_F32, ... */
  const char* name;     /* owned by the program */
} rnnc_spec;

/* Reads a program from its bytes (copied) with kernels[0 .. kernel_count) (not copied: they must
 * outlive it), to run on up to `threads` threads (0: one per core). NULL on failure, with the reason
 * in err (err_size bytes, always terminated) when err is not NULL. */
rnnc_program* rnnc_program_new(const void* bytes, size_t size, const rnnc_kernel_fn* kernels, uint64_t kernel_count,
                               int threads, char* err, size_t err_size);
void rnnc_program_free(rnnc_program* p);

int rnnc_program_inputs(const rnnc_program* p);
int rnnc_program_outputs(const rnnc_program* p);
/* Input or output i's spec; RNNC_ERROR when i is out of range. */
int rnnc_program_input(const rnnc_program* p, int i, rnnc_spec* spec);
int rnnc_program_output(const rnnc_program* p, int i, rnnc_spec* spec);

/* Runs the program: inputs[i] holds input i and outputs[k] receives output k, each contiguous and
 * row-major as its spec says. One call at a time per program (calls on one program from several
 * threads wait for each other). RNNC_ERROR with the reason in err when a step fails (an index out
 * of range, a length outside [0, T]). */
int rnnc_program_run(rnnc_program* p, const void* const* inputs, void* const* outputs, char* err, size_t err_size);

/* ---- Models and streams: what an exported model's library (rnnc/export.h) is made of. ----
 *
 * A model is a step program (state, inputs) -> (outputs, state'): its first `states` inputs are
 * the state and its last `states` outputs the next state, of the same specs. A stream holds one
 * state (and the memory a step works in), so that streams step independently: from many threads
 * at once, each stream from one thread at a time, with no lock around the model; after a
 * stream's first step, a step allocates nothing.
 *
 *   rnnc_model* m = rnnc_model_new(&model_image, 0, err, sizeof err);
 *   rnnc_stream* s = rnnc_stream_new(m, err, sizeof err);
 *   const void* in[] = {x};  void* out[] = {y};
 *   while (...) if (rnnc_stream_step(m, s, in, out, err, sizeof err) != RNNC_OK) ...
 *   rnnc_stream_free(s);  rnnc_model_free(m);
 */
#define RNNC_MODEL_FORMAT 2u

/* What an exported library hands the run time (export writes it; nothing here is copied: it must
 * outlive the model). */
typedef struct rnnc_model_image {
  uint32_t format;      /* RNNC_MODEL_FORMAT of the rnnc that exported it */
  const char* version;  /* of the rnnc that exported it */
  const char* cpu;      /* the CPU the kernels were compiled for, as LLVM names it ("znver5") */
  const char* features; /* the CPU features they and the run time need, comma-separated */
  const void* program;  /* the program's bytes (its weights inside) */
  uint64_t program_size;
  const rnnc_kernel_fn* kernels;
  uint64_t kernel_count;
  int states;                  /* inputs (and outputs) that are the state */
  const void* initial_state;   /* the states' initial values, one after the other */
  uint64_t initial_state_size; /* bytes */
  const char* const* metadata; /* key, value, key, value, ..., NULL */
  /* The same step for `batch` streams at once (0: none): every input, output and state part of
   * the step above has a leading axis of 1, here of `batch`. */
  int batch;
  const void* batch_program;
  uint64_t batch_program_size;
  const rnnc_kernel_fn* batch_kernels;
  uint64_t batch_kernel_count;
} rnnc_model_image;

typedef struct rnnc_model rnnc_model;
typedef struct rnnc_stream rnnc_stream;

/* Checks the image (its format, this CPU's features, the program) and reads it, to step on up to
 * `threads` threads per stream (0: one per core). NULL on failure, the reason in err. */
rnnc_model* rnnc_model_new(const rnnc_model_image* image, int threads, char* err, size_t err_size);
void rnnc_model_free(rnnc_model* m);

/* A step's inputs and outputs, the state not counted, and the state's parts. */
int rnnc_model_inputs(const rnnc_model* m);
int rnnc_model_outputs(const rnnc_model* m);
int rnnc_model_states(const rnnc_model* m);
int rnnc_model_input(const rnnc_model* m, int i, rnnc_spec* spec);
int rnnc_model_output(const rnnc_model* m, int i, rnnc_spec* spec);
int rnnc_model_state(const rnnc_model* m, int i, rnnc_spec* spec);
/* The value exported under key (e.g. "vocab" for a character model), NULL when there is none. */
const char* rnnc_model_metadata(const rnnc_model* m, const char* key);

/* A stream of m (which must outlive it), its state at the initial value. NULL on failure. */
rnnc_stream* rnnc_stream_new(const rnnc_model* m, char* err, size_t err_size);
void rnnc_stream_free(rnnc_stream* s);
/* Back to the initial state. */
void rnnc_stream_reset(rnnc_stream* s);
/* State i as it is now (contiguous, as rnnc_model_state says), to read or to set; NULL when i is
 * out of range. A step moves it: call again after each step. */
void* rnnc_stream_state(rnnc_stream* s, int i);
/* One step: inputs[i] holds input i, outputs[k] receives output k; the state moves on. */
int rnnc_stream_step(const rnnc_model* m, rnnc_stream* s, const void* const* inputs, void* const* outputs, char* err,
                     size_t err_size);

/* ---- Batches: many streams stepped together, for a server. ----
 *
 * A model exported with a batch size B also holds its step compiled for B rows: a batch steps up to
 * B streams as one step of that program (each weight read once for all of them, a GEMM instead of
 * B matrix-vector products), their states gathered in and scattered back; each stream's state moves
 * on as if it had stepped alone. A batch holds the memory it works in: one per thread that steps
 * batches. A stream stepped by a batch must not be stepped elsewhere during the call; after a
 * batch's first call with n streams, a call allocates nothing.
 *
 *   rnnc_batch* b = rnnc_batch_new(m, err, sizeof err);
 *   rnnc_stream* group[] = {s0, s1, s2};
 *   const void* in[] = {x};  // input 0 of the 3 streams, one after the other
 *   void* out[] = {y};       // output 0 of the 3 streams, likewise
 *   if (rnnc_batch_step(b, group, 3, in, out, err, sizeof err) != RNNC_OK) ...
 *   rnnc_batch_free(b);
 */
typedef struct rnnc_batch rnnc_batch;

/* The most streams one batched step takes; 0 when the model was exported without one. */
int rnnc_model_batch(const rnnc_model* m);
/* A batch of m (which must outlive it); NULL when m has no batched step, the reason in err. */
rnnc_batch* rnnc_batch_new(const rnnc_model* m, char* err, size_t err_size);
void rnnc_batch_free(rnnc_batch* b);
/* One step of streams[0 .. n) (distinct streams of the batch's model, 1 <= n <= its batch):
 * inputs[i] holds input i of the n streams one after the other, outputs[k] receives output k
 * likewise. */
int rnnc_batch_step(rnnc_batch* b, rnnc_stream* const* streams, int n, const void* const* inputs, void* const* outputs,
                    char* err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
