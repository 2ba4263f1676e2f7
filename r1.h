// r1.h (development form): the parts below are being written in parallel in dev/parts/ and are
// inlined into this one file before the work lands. Read them in this order.
#ifndef R1_H
#define R1_H
#include "dev/parts/00_base.h"
#include "dev/parts/10_tokenizer.h"
#include "dev/parts/20_model.h"
#include "dev/parts/25_model_io.h"
#include "dev/parts/30_layers.h"
#include "dev/parts/40_optim.h"
#include "dev/parts/50_data.h"
#include "dev/parts/55_sample.h"
#include "dev/parts/58_generate.h"
#include "dev/parts/60_answer.h"
#include "dev/parts/65_grpo.h"
#include "dev/parts/70_sft.h"
#include "dev/parts/80_grpo_train.h"
#include "dev/parts/90_unicode.h"
#endif // R1_H
