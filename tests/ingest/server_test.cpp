// placeholder until the integration tests are written
