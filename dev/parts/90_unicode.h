// (part 90_unicode: in progress)
