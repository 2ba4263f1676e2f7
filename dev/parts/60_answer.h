// (part 60_answer: in progress)
