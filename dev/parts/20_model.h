// ----------------------------------------------------------------------------
// Qwen2.5: configuration and parameters
// A Qwen2ForCausalLM is: token embedding, L identical decoder layers (RMSNorm -> attention with
// q/k/v biases, RoPE and grouped-query heads -> residual; RMSNorm -> SwiGLU MLP -> residual), a final
// RMSNorm and the LM head, which small models tie to the embedding.

typedef struct {
    int hidden_size;             // C
    int intermediate_size;       // I
    int num_layers;              // L   (num_hidden_layers)
    int num_heads;               // NH  (num_attention_heads)
    int num_kv_heads;            // NKV (num_key_value_heads); NH % NKV == 0
    int head_dim;                // HD = C / NH
    int vocab_size;              // V   (rows of the embedding; more than the tokenizer's ids)
    int max_position_embeddings; // longest sequence the model is configured for
    float rope_theta;            // RoPE base, 1e6 for Qwen2.5 (1e4 for Qwen2.5-Math)
    float rms_norm_eps;          // 1e-6
    int tie_word_embeddings;     // 1: the LM head is the embedding matrix (0.5B, 1.5B, 3B)
    int bos_token_id;            // informative only: Qwen2.5 never prepends a bos token
    int eos_token_id;            // as written in config.json (generation_config.json may list more)
} Qwen2Config;

// The parameters, each a pointer into one contiguous buffer. Per-layer tensors are stacked over the
// L layers (as llm.c does), so layer l's q_proj weight is wq + l * (NH*HD) * C.
#define NUM_PARAM_TENSORS 14
typedef struct {
    float* embed;   // (V, C)           model.embed_tokens.weight
    float* ln1;     // (L, C)           model.layers.N.input_layernorm.weight
    float* wq;      // (L, NH*HD, C)    model.layers.N.self_attn.q_proj.weight
    float* bq;      // (L, NH*HD)       model.layers.N.self_attn.q_proj.bias
    float* wk;      // (L, NKV*HD, C)   model.layers.N.self_attn.k_proj.weight
    float* bk;      // (L, NKV*HD)      model.layers.N.self_attn.k_proj.bias
    float* wv;      // (L, NKV*HD, C)   model.layers.N.self_attn.v_proj.weight
    float* bv;      // (L, NKV*HD)      model.layers.N.self_attn.v_proj.bias
    float* wo;      // (L, C, NH*HD)    model.layers.N.self_attn.o_proj.weight
    float* ln2;     // (L, C)           model.layers.N.post_attention_layernorm.weight
    float* wgate;   // (L, I, C)        model.layers.N.mlp.gate_proj.weight
    float* wup;     // (L, I, C)        model.layers.N.mlp.up_proj.weight
    float* wdown;   // (L, C, I)        model.layers.N.mlp.down_proj.weight
    float* norm;    // (C)              model.norm.weight
    float* lm_head; // (V, C)           lm_head.weight; == embed when the embeddings are tied
} ParameterTensors;

// One row per tensor of ParameterTensors, in the same order: the Hugging Face name ("%d" is the
// layer), whether it is stacked over layers, and its kind. Loading, saving and initialisation are
// each one loop over this table. lm_head is listed apart because it may alias embed.
typedef enum { PARAM_MATRIX, PARAM_BIAS, PARAM_NORM } ParamKind;
typedef struct {
    const char* hf_name;
    int per_layer;
    ParamKind kind; // matrices: normal(0, 0.02) init and weight decay; biases: zeros; norms: ones
} ParamSpec;

static const ParamSpec PARAM_SPECS[NUM_PARAM_TENSORS + 1] = {
    {"model.embed_tokens.weight", 0, PARAM_MATRIX},
    {"model.layers.%d.input_layernorm.weight", 1, PARAM_NORM},
    {"model.layers.%d.self_attn.q_proj.weight", 1, PARAM_MATRIX},
    {"model.layers.%d.self_attn.q_proj.bias", 1, PARAM_BIAS},
    {"model.layers.%d.self_attn.k_proj.weight", 1, PARAM_MATRIX},
    {"model.layers.%d.self_attn.k_proj.bias", 1, PARAM_BIAS},
    {"model.layers.%d.self_attn.v_proj.weight", 1, PARAM_MATRIX},
    {"model.layers.%d.self_attn.v_proj.bias", 1, PARAM_BIAS},
    {"model.layers.%d.self_attn.o_proj.weight", 1, PARAM_MATRIX},
    {"model.layers.%d.post_attention_layernorm.weight", 1, PARAM_NORM},
    {"model.layers.%d.mlp.gate_proj.weight", 1, PARAM_MATRIX},
    {"model.layers.%d.mlp.up_proj.weight", 1, PARAM_MATRIX},
    {"model.layers.%d.mlp.down_proj.weight", 1, PARAM_MATRIX},
    {"model.norm.weight", 0, PARAM_NORM},
    {"lm_head.weight", 0, PARAM_MATRIX}, // index NUM_PARAM_TENSORS: only stored when untied
};

// Shape of one layer's slice of each tensor: rows x cols (cols == 1 for vectors).
static void param_shapes(const Qwen2Config* c, size_t rows[NUM_PARAM_TENSORS + 1], size_t cols[NUM_PARAM_TENSORS + 1]) {
    size_t C = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    size_t QD = (size_t)c->num_heads * c->head_dim, KVD = (size_t)c->num_kv_heads * c->head_dim;
    size_t r[NUM_PARAM_TENSORS + 1] = {V, C, QD, QD, KVD, KVD, KVD, KVD, C, C, I, I, C, C, V};
    size_t k[NUM_PARAM_TENSORS + 1] = {C, 1, C, 1, C, 1, C, 1, QD, 1, C, C, I, 1, C};
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        rows[i] = r[i];
        cols[i] = k[i];
    }
}

// Number of floats of each tensor across all layers; lm_head counts only when it is not tied.
static void param_sizes(const Qwen2Config* c, size_t sizes[NUM_PARAM_TENSORS + 1]) {
    size_t rows[NUM_PARAM_TENSORS + 1], cols[NUM_PARAM_TENSORS + 1];
    param_shapes(c, rows, cols);
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        sizes[i] = rows[i] * cols[i] * (PARAM_SPECS[i].per_layer ? (size_t)c->num_layers : 1);
    }
    if (c->tie_word_embeddings) {
        sizes[NUM_PARAM_TENSORS] = 0;
    }
}

// Points the tensors of p into one buffer of param_count(c) floats (allocated when memory is NULL).
// Returns the buffer. With tied embeddings lm_head aliases embed, so gradients of the LM head
// accumulate into the embedding's gradient automatically.
static size_t param_count(const Qwen2Config* c) {
    size_t sizes[NUM_PARAM_TENSORS + 1], n = 0;
    param_sizes(c, sizes);
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        n += sizes[i];
    }
    return n;
}

static float* param_point(const Qwen2Config* c, ParameterTensors* p, float* memory) {
    size_t sizes[NUM_PARAM_TENSORS + 1];
    param_sizes(c, sizes);
    if (memory == NULL) {
        memory = (float*)calloc_check(param_count(c), sizeof(float));
    }
    float** ptrs[NUM_PARAM_TENSORS + 1] = {&p->embed, &p->ln1,  &p->wq,    &p->bq,  &p->wk,    &p->bk,
                                           &p->wv,    &p->bv,   &p->wo,    &p->ln2, &p->wgate, &p->wup,
                                           &p->wdown, &p->norm, &p->lm_head};
    float* at = memory;
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        *ptrs[i] = at;
        at += sizes[i];
    }
    if (c->tie_word_embeddings) {
        p->lm_head = p->embed;
    }
    return memory;
}

// The tensor pointers of p as an array in PARAM_SPECS order (for loops over all parameters).
static void param_list(ParameterTensors* p, float* list[NUM_PARAM_TENSORS + 1]) {
    float* l[NUM_PARAM_TENSORS + 1] = {p->embed, p->ln1, p->wq,  p->bq,  p->wk,    p->bk,   p->wv,  p->bv,
                                       p->wo,    p->ln2, p->wgate, p->wup, p->wdown, p->norm, p->lm_head};
    memcpy(list, l, sizeof(l));
}

