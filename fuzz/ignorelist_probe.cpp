// Proves fuzz/ubsan-ignorelist.txt hides only RapidJSON's stack.h report.
// bench/fuzz/run.sh builds this with the fuzz build's flags twice, with and
// without the list, before it fuzzes. Parsing "0E80" with RapidJSON's
// full-precision flag first pushes the number's text onto RapidJSON's stack
// (the stack.h report, Tencent/rapidjson#1724), then calls
// __builtin_clzll(0) (UBSan "passing zero to clz()"). Without the list UBSan
// must halt on stack.h; with it, on clz: the list hides that one report and
// still lets RapidJSON's others through.
//
// The one place in the project that parses with kParseFullPrecisionFlag
// (core/json.hpp says why nothing else does); never built by CMake.
#include <rapidjson/document.h>

#include <cstdio>

int main() {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseFullPrecisionFlag>("0E80");
  std::printf("parsed without a UBSan report (parse error %d)\n",
              static_cast<int>(doc.GetParseError()));
  return 0;
}
