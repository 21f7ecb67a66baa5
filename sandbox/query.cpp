// readByQuery query text (filled in next).
