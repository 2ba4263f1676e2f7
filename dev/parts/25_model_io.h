// (part 25_model_io: in progress)
