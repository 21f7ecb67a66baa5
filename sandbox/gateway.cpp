// Gateway request handling (filled in next).
