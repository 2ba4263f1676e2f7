/*
tests/test_kernels.cu: every GPU kernel against its CPU twin in r1.h.

Each test fills its inputs with random numbers (never zeros), poisons the GPU output (NaN bytes)
before the kernel runs, and compares with the r1.h function of the same name minus "_gpu", printing
the relative error ||gpu - cpu|| / ||cpu||. Tolerances: about 1e-5 in the PRECISION=FP32 build, about
1e-2 in the bf16 build (the inputs are rounded to bf16 before the CPU twin sees them, so both sides
start from the same numbers). Then whole models: GPU logits against qwen2_forward_cached on the
fixture models and on random-init real-size configs, and greedy tokens equal to the CPU's.

    make tests/test_kernels_gpu && ./tests/test_kernels_gpu        (needs a CUDA device)
    make PRECISION=FP32 tests/test_kernels_gpu && ./tests/test_kernels_gpu
*/
#define R1_NO_GRPO_MAIN
#include "../train_grpo.cu"
#include "test.h"

#ifdef ENABLE_FP32
#define TOL_KERNEL 1e-5 // fp32 kernels: only the order of the sums differs
#else
#define TOL_KERNEL 1e-2 // bf16 activations: ~3 significant digits
#endif

// --- helpers: random inputs, floatX copies, poisoned outputs -----------------------------------

// n uniform numbers in [-scale, scale), rounded to floatX and back, so the CPU twin sees exactly what
// the GPU kernel sees.
static float* rand_floatx(size_t n, float scale, uint64_t* rng) {
    float* x = (float*)malloc_check(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(floatX)((2.0f * random_f32(rng) - 1.0f) * scale);
    }
    return x;
}

// A device copy of n host floats as floatX.
static floatX* to_device_x(const float* x, size_t n) {
    floatX* h = (floatX*)malloc_check(n * sizeof(floatX));
    for (size_t i = 0; i < n; i++) {
        h[i] = (floatX)x[i];
    }
    floatX* d = (floatX*)cuda_malloc_check(n * sizeof(floatX), "test input");
    cudaCheck(cudaMemcpy(d, h, n * sizeof(floatX), cudaMemcpyHostToDevice));
    free(h);
    return d;
}

// n floatX from the device, as floats.
static float* from_device_x(const floatX* d, size_t n) {
    floatX* h = (floatX*)malloc_check(n * sizeof(floatX));
    cudaCheck(cudaMemcpy(h, d, n * sizeof(floatX), cudaMemcpyDeviceToHost));
    float* x = (float*)malloc_check(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)h[i];
    }
    free(h);
    return x;
}

// Device output memory filled with NaN bytes (0xff), so a kernel that skips an element is caught.
static void* poisoned(size_t bytes) {
    void* d = cuda_malloc_check(bytes, "test output");
    cudaCheck(cudaMemset(d, 0xff, bytes));
    return d;
}

// Compares and prints one kernel's relative error.
static void check_rel(const char* what, const float* gpu, const float* cpu, size_t n, double tol) {
    double max_abs;
    double rel = rel_error(gpu, cpu, n, &max_abs);
    check(rel <= tol, "%s: rel error %.2e, max abs %.2e (tol %.0e, %s)", what, rel, max_abs, tol, PRECISION_NAME);
}

// --- layer kernels ----------------------------------------------------------------------------
// @@TEST_LAYERS@@

// --- attention --------------------------------------------------------------------------------
// @@TEST_ATTENTION@@

// --- sampling ---------------------------------------------------------------------------------
// @@TEST_SAMPLING@@

// --- whole models: logits and greedy tokens -----------------------------------------------------
// @@TEST_MODEL@@

// --- the generation engine: greedy tokens and log-probs against the CPU's ----------------------
// @@TEST_ENGINE@@

// --- training kernels (train_sft.cu): backward passes, loss, AdamW ------------------------------
// @@TEST_SFT@@

int main(void) {
    int n_dev = 0;
    if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0) {
        skip("GPU kernel tests: no CUDA device on this machine");
        return test_summary("test_kernels");
    }
    cudaDeviceProp prop;
    cudaCheck(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s, %s build\n", prop.name, PRECISION_NAME);
    // @@TEST_CALLS@@
    return test_summary("test_kernels");
}
