// (part 40_optim: in progress)
