// (part 10_tokenizer: in progress)
