// (part 50_data: in progress)
