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
enum { RNNC_F32 = 0, RNNC_F64 = 1, RNNC_I32 = 2, RNNC_BF16 = 3 };

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

#ifdef __cplusplus
}
#endif
#endif
