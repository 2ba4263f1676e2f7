// (part 65_grpo: in progress)
