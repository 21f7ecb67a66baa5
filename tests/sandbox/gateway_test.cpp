#include <doctest/doctest.h>

#include "sandbox/sandbox.hpp"
