#include "core/core.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <random>
#include <stdexcept>

namespace isync {

void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw std::runtime_error(e.code + ": " + e.message);
}

std::ostream& operator<<(std::ostream& os, const Error& e) {
  return os << e.code << ": " << e.message;
}

std::int64_t SystemClock::now_ms() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

struct UlidState {
  std::mutex mu;
  std::mt19937_64 rng{std::random_device{}()};
  std::int64_t last_ms = -1;
  std::array<std::uint8_t, 10> last_random{};
};

UlidState& ulid_state() {
  static UlidState state;  // process-wide: monotonicity needs one sequence
  return state;
}

std::string hex_digest(const EVP_MD* md, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  // One context per thread, reused: EVP_Digest allocates and frees one per
  // call (ingest hashes twice per request).
  struct Ctx {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Ctx local;
  if (local.ctx == nullptr || EVP_DigestInit_ex(local.ctx, md, nullptr) != 1 ||
      EVP_DigestUpdate(local.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(local.ctx, out.data(), &len) != 1) {
    EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[out[i] >> 4]);
    hex.push_back(kHex[out[i] & 0xf]);
  }
  return hex;
}

}  // namespace

std::string make_ulid(std::int64_t now_ms) {
  auto& st = ulid_state();
  std::array<std::uint8_t, 16> bytes{};
  {
    std::lock_guard lock(st.mu);
    if (now_ms <= st.last_ms) {
      // Same (or earlier) millisecond: increment the random part so ids stay
      // strictly increasing within this process.
      now_ms = st.last_ms;
      for (int i = 9; i >= 0; --i) {
        if (++st.last_random[static_cast<std::size_t>(i)] != 0) break;
      }
    } else {
      st.last_ms = now_ms;
      for (auto& b : st.last_random) b = static_cast<std::uint8_t>(st.rng());
    }
    for (int i = 0; i < 6; ++i) {
      bytes[static_cast<std::size_t>(i)] =
          static_cast<std::uint8_t>(static_cast<std::uint64_t>(now_ms) >> (8 * (5 - i)));
    }
    for (std::size_t i = 0; i < 10; ++i) bytes[6 + i] = st.last_random[i];
  }
  // 128 bits -> 26 base32 characters (the first carries 3 bits).
  std::string out(26, '0');
  unsigned __int128 v = 0;
  for (auto b : bytes) v = (v << 8) | b;
  for (int i = 25; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kCrockford[static_cast<unsigned>(v & 31)];
    v >>= 5;
  }
  return out;
}

bool valid_tenant_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// OpenSSL 3 looks the implementation up on every use of EVP_sha256(); fetch
// each digest once (ingest hashes every request's dedup key).
std::string sha256_hex(std::string_view data) {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return hex_digest(md, data);
}
std::string sha1_hex(std::string_view data) {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  return hex_digest(md, data);
}

boost::asio::any_io_executor make_strand_executor(const boost::asio::any_io_executor& ex) {
  if (const auto* io = ex.target<boost::asio::io_context::executor_type>()) {
    return boost::asio::make_strand(*io);
  }
  return boost::asio::make_strand(ex);
}

std::string shorten(std::string_view text, std::size_t max_chars) {
  if (text.size() <= max_chars) return std::string(text);
  // Never cut inside a UTF-8 sequence: the message would not be UTF-8.
  std::size_t cut = max_chars;
  while (cut > 0 && max_chars - cut < 3 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return std::string(text.substr(0, cut)) + "...";
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// ---- Logging -----------------------------------------------------------------

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

LogLine& LogLine::str(std::string_view key, std::string_view value) {
  if (!body_.empty()) body_.push_back(',');
  append_json_string(body_, key);
  body_.push_back(':');
  append_json_string(body_, value);
  return *this;
}

LogLine& LogLine::num(std::string_view key, std::int64_t value) {
  if (!body_.empty()) body_.push_back(',');
  append_json_string(body_, key);
  body_.push_back(':');
  body_ += std::to_string(value);
  return *this;
}

struct Log::Impl {
  Sink sink;
  std::shared_ptr<spdlog::logger> logger;
};

Log::Log(Level min, Sink sink) : min_(min), impl_(std::make_unique<Impl>()) {
  impl_->sink = std::move(sink);
  if (!impl_->sink) {
    impl_->logger = std::make_shared<spdlog::logger>(
        "isync", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    // The line is JSON: spdlog adds time and level, we add the rest.
    impl_->logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})",
                               spdlog::pattern_time_type::utc);
    impl_->logger->set_level(spdlog::level::trace);
    impl_->logger->flush_on(spdlog::level::trace);
  }
}

Log::~Log() = default;

void Log::write(Level level, std::string_view msg, const LogLine& fields) {
  if (level < min_) return;
  std::string rest = "\"msg\":";
  append_json_string(rest, msg);
  if (!fields.body().empty()) {
    rest.push_back(',');
    rest += fields.body();
  }
  if (impl_->sink) {
    static constexpr const char* kNames[] = {"debug", "info", "warning", "error"};
    std::string line = "{\"level\":\"";
    line += kNames[static_cast<int>(level)];
    line += "\",";
    line += rest;
    line += "}";
    impl_->sink(line);
    return;
  }
  spdlog::level::level_enum lv = spdlog::level::info;
  switch (level) {
    case Level::debug:
      lv = spdlog::level::debug;
      break;
    case Level::info:
      lv = spdlog::level::info;
      break;
    case Level::warn:
      lv = spdlog::level::warn;
      break;
    case Level::error:
      lv = spdlog::level::err;
      break;
  }
  impl_->logger->log(lv, "{}", rest);
}

}  // namespace isync
