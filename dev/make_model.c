/*
dev/make_model.c: makes a random-init Qwen2.5 model folder in real Hugging Face format
(config.json + model.safetensors), the way real-size models are made here without downloads, and
checks a folder by loading it the way r1 does.

    ./dev/make_model --preset 0.5B --seed 1 --dtype BF16 --out /tmp/qwen-0.5b-random
    ./dev/make_model --preset 7B --layers 2 --dtype F32 --out /tmp/qwen-7b-2layers
    ./dev/make_model --config some/config.json --seed 3 --dtype F32 --out /tmp/m
    ./dev/make_model --check /tmp/m      # loads it; one JSON line per tensor: shape, sum, FNV-1a hash

Memory: the model is written tensor by tensor from per-tensor random streams (model_save_random in
r1.h), so even 7B (15 GB in bf16, 30 GB in fp32 on disk) needs only a few MB of RAM; make sure the
disk has room. --check loads the whole model in fp32 (4 bytes per parameter).
*/
#include "../r1.h"

static void usage(int status) {
    printf("usage: ./dev/make_model (--preset 0.5B|1.5B|3B|7B | --config PATH/config.json) [--layers N]\n"
           "                        [--seed S] [--dtype BF16|F32] --out DIR\n"
           "       ./dev/make_model --check DIR\n"
           "  --preset NAME   published Qwen2.5 sizes (7B is untied, vocab 152064)\n"
           "  --config PATH   take the architecture from a config.json instead\n"
           "  --layers N      keep only N decoder layers (a smaller model of the same width)\n"
           "  --seed S        random seed (default 1); same seed, same files\n"
           "  --dtype D       BF16 (default, as published) or F32\n"
           "  --out DIR       folder to write (created; files in it are replaced)\n"
           "  --check DIR     load DIR as r1 does and print one JSON line per tensor\n"
           "                  {\"name\", \"shape\", \"sum\", \"fnv\"} (fnv: FNV-1a 64 of the fp32 bytes)\n");
    exit(status);
}

static void check_model(const char* dir) {
    Qwen2Config c;
    config_load(&c, dir);
    ParameterTensors p;
    double t0 = wall_time();
    float* mem = model_load_weights(&c, &p, dir);
    double t1 = wall_time();
    ModelTensor* list;
    int n = model_tensor_list(&c, &p, &list);
    for (int i = 0; i < n; i++) {
        double sum = 0;
        for (size_t k = 0; k < list[i].numel; k++) {
            sum += list[i].data[k];
        }
        printf("{\"name\": \"%s\", \"shape\": [%zu", list[i].name, list[i].shape[0]);
        if (list[i].ndim == 2) {
            printf(", %zu", list[i].shape[1]);
        }
        printf("], \"sum\": %.17g, \"fnv\": \"%016llx\"}\n", sum,
               (unsigned long long)hash_bytes(list[i].data, list[i].numel * sizeof(float)));
    }
    fprintf(stderr, "make_model: loaded %s: %d tensors, %zu parameters, tied %d, in %.2f s\n", dir, n,
            param_count(&c), c.tie_word_embeddings, t1 - t0);
    free(list);
    free(mem);
}

int main(int argc, char** argv) {
    const char *preset = NULL, *config = NULL, *out = NULL, *dtype = "BF16", *check = NULL;
    long layers = 0;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "make_model: %s needs a value (see --help)\n", argv[i]);
            return 1;
        }
        const char *flag = argv[i], *value = argv[++i];
        char* end = NULL;
        if (strcmp(flag, "--preset") == 0) {
            preset = value;
        } else if (strcmp(flag, "--config") == 0) {
            config = value;
        } else if (strcmp(flag, "--out") == 0) {
            out = value;
        } else if (strcmp(flag, "--dtype") == 0) {
            dtype = value;
        } else if (strcmp(flag, "--check") == 0) {
            check = value;
        } else if (strcmp(flag, "--layers") == 0) {
            layers = strtol(value, &end, 10);
            if (*end != '\0' || layers <= 0 || layers > 100000) {
                fatal("--layers %s: expected a positive number of layers", value);
            }
        } else if (strcmp(flag, "--seed") == 0) {
            seed = strtoull(value, &end, 10);
            if (*end != '\0' || value[0] == '-') {
                fatal("--seed %s: expected a non-negative integer", value);
            }
        } else {
            fatal("unknown flag %s (see --help)", flag);
        }
    }
    if (check != NULL) {
        check_model(check);
        return 0;
    }
    if ((preset == NULL) == (config == NULL) || out == NULL) {
        fprintf(stderr, "make_model: give one of --preset or --config, and --out (see --help)\n");
        return 1;
    }
    if (strcmp(dtype, "BF16") != 0 && strcmp(dtype, "F32") != 0) {
        fatal("--dtype %s: expected BF16 or F32", dtype);
    }
    Qwen2Config c;
    if (preset != NULL && !config_preset(&c, preset)) {
        fatal("--preset %s: unknown; expected 0.5B, 1.5B, 3B or 7B", preset);
    }
    if (config != NULL) {
        Json* j = json_load_file(config);
        config_from_json(&c, j, config);
        json_free(j);
    }
    if (layers > 0) {
        c.num_layers = (int)layers;
    }
    double t0 = wall_time();
    model_save_random(out, &c, (uint64_t)seed, dtype);
    size_t n = param_count(&c);
    fprintf(stderr, "make_model: wrote %s: %zu parameters (%.2f GB as %s), %d layers, tied %d, in %.1f s\n", out, n,
            n * (strcmp(dtype, "BF16") == 0 ? 2.0 : 4.0) / 1e9, dtype, c.num_layers, c.tie_word_embeddings,
            wall_time() - t0);
    return 0;
}
