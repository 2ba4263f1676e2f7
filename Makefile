# r1: `make` builds every CPU program, and the CUDA programs when nvcc is present.
# `make test` builds and runs all tests and ends with the line "N passed, N failed".

CC ?= gcc
ifeq ($(CC),cc)
  CC = gcc
endif
# No -ffast-math: the CPU path is the reference and must keep IEEE semantics (NaN checks included).
CFLAGS ?= -O3 -march=native -std=c11 -Wall -Wextra -Wno-unused-function -Wno-unused-parameter
LDLIBS = -lm

# OpenMP when the compiler has it (NO_OMP=1 turns it off: the pragmas are then ignored).
ifeq ($(NO_OMP),)
  ifeq ($(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo yes),yes)
    CFLAGS += -fopenmp
  else
    CFLAGS += -Wno-unknown-pragmas
  endif
else
  CFLAGS += -Wno-unknown-pragmas
endif

# CPU programs: the tools, the eval binary and every tests/test_*.c.
TEST_BINS = $(patsubst %.c,%,$(wildcard tests/test_*.c))
# every dev/*.c and data/*.c is a small tool with its own main
TOOL_BINS = $(patsubst %.c,%,$(wildcard dev/*.c data/*.c))
CPU_BINS = $(patsubst %.c,%,$(wildcard eval.c)) $(TOOL_BINS) $(TEST_BINS)

# The drivers generate.cu ⊂ train_sft.cu ⊂ train_grpo.cu. With nvcc they are built as CUDA programs
# (which run the r1.h CPU path when the machine has no CUDA device); without nvcc the same files are
# compiled as plain C, CPU path only, so ./train_grpo works on any machine.
NVCC := $(shell command -v nvcc 2>/dev/null)
CU_SRCS = $(wildcard generate.cu train_sft.cu train_grpo.cu)
CU_BINS = $(patsubst %.cu,%,$(CU_SRCS))
# sm_80 = A100/A800, sm_90 = H100/H200
NVCC_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
NVCCFLAGS ?= -O3 -std=c++17 $(NVCC_ARCH) -Xcompiler -fopenmp,-march=native,-Wno-unused-function -diag-suppress 177
NVCC_LDLIBS = -lcublas -lcublasLt -lgomp -lm
# NCCL (several GPUs) when its header is found next to nvcc or in the system; else one GPU only.
NCCL_H := $(firstword $(wildcard $(dir $(NVCC))../include/nccl.h /usr/include/nccl.h /usr/local/include/nccl.h))
ifeq ($(NCCL_H),)
  NVCCFLAGS += -DR1_NO_NCCL
else
  NVCC_LDLIBS += -lnccl
endif
# PRECISION=FP32 builds the GPU kernels in fp32 (the kernel tests then compare with r1.h at ~1e-5);
# the default is bf16 weights and activations with fp32 accumulation.
ifeq ($(PRECISION),FP32)
  NVCCFLAGS += -DENABLE_FP32
endif

R1_DEPS = r1.h

.PHONY: all cpu gpu test clean
all: cpu gpu

cpu: $(CPU_BINS)

# tests/test_kernels_gpu: every GPU kernel against its r1.h twin (needs nvcc to build, a GPU to run;
# tests/run.sh runs it only where a CUDA device is present)
GPU_TEST_BINS = $(if $(NVCC),$(patsubst %.cu,%_gpu,$(wildcard tests/test_kernels.cu)))

gpu: $(CU_BINS) $(GPU_TEST_BINS)
ifeq ($(NVCC),)
	@echo "nvcc not found: $(CU_BINS) built as plain C (CPU path only), GPU kernel tests not built; install the CUDA toolkit for the GPU path"
endif

tests/test_kernels_gpu: tests/test_kernels.cu tests/test.h $(R1_DEPS) $(CU_SRCS)
	$(NVCC) $(NVCCFLAGS) -o $@ $< $(NVCC_LDLIBS)

ifeq ($(NVCC),)
$(CU_BINS): %: %.cu $(R1_DEPS) $(CU_SRCS)
	$(CC) $(CFLAGS) -x c -o $@ $< $(LDLIBS)
else
$(CU_BINS): %: %.cu $(R1_DEPS) $(CU_SRCS)
	$(NVCC) $(NVCCFLAGS) -o $@ $< $(NVCC_LDLIBS)
endif

tests/test_%: tests/test_%.c tests/test.h $(R1_DEPS)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

eval: eval.c $(R1_DEPS)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

dev/%: dev/%.c $(R1_DEPS)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

data/%: data/%.c $(R1_DEPS)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

test: all
	@bash tests/run.sh

clean:
	rm -f $(CPU_BINS) $(CU_BINS) tests/test_kernels_gpu
