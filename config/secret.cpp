#include "config/detail/secret.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace isync::config {

namespace detail {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;
constexpr std::size_t kKeyBytes = 32;
// A secret file larger than this is not a secret file; refuse to read it whole.
constexpr std::streamsize kMaxSecretFile = 64 * 1024;

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

Error fail(std::string message) { return make_error(std::string(kErrorCode), std::move(message)); }

Result<std::string> ok_text(std::string s) {
  return Result<std::string>(boost::system::in_place_value, std::move(s));
}

Result<std::string> master_key(const std::map<std::string, std::string>& env) {
  auto it = env.find(std::string(kMasterKeyVar));
  if (it == env.end() || it->second.empty())
    return fail(std::string(kMasterKeyVar) + " is not set (it holds the base64 master key)");
  auto key = base64_decode(it->second);
  if (!key || key->size() != kKeyBytes)
    return fail(std::string(kMasterKeyVar) + " is not a base64-encoded 32-byte key");
  return ok_text(std::move(*key));
}

Result<std::string> decrypt(std::string_view blob_b64, const std::string& key) {
  auto blob = base64_decode(blob_b64);
  if (!blob) return fail("the value after enc: is not valid base64");
  if (blob->size() < kNonceBytes + kTagBytes)
    return fail("the value after enc: is too short to hold a nonce and a tag");
  const auto* bytes = reinterpret_cast<const unsigned char*>(blob->data());
  const auto cipher_len = blob->size() - kNonceBytes - kTagBytes;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::string plain(cipher_len, '\0');
  int len = 0;
  int final_len = 0;
  std::array<unsigned char, kTagBytes> tag{};
  std::memcpy(tag.data(), bytes + kNonceBytes + cipher_len, kTagBytes);
  bool ok = ctx &&
            EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceBytes),
                                nullptr) == 1 &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr,
                               reinterpret_cast<const unsigned char*>(key.data()), bytes) == 1 &&
            EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                              bytes + kNonceBytes, static_cast<int>(cipher_len)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes),
                                tag.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len,
                                &final_len) == 1;
  if (!ok) return fail("decryption failed (wrong master key, or the value was altered)");
  plain.resize(static_cast<std::size_t>(len + final_len));
  return ok_text(std::move(plain));
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto at = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    std::uint32_t v = at(i) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out += "==";
  } else if (rest == 2) {
    std::uint32_t v = (at(i) << 16) | (at(i + 1) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int pad = 0;
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      int s = sextet(c);
      if (s < 0 || pad > 0) return std::nullopt;
      v = (v << 6) | static_cast<std::uint32_t>(s);
    }
    out.push_back(static_cast<char>((v >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((v >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(v & 0xff));
  }
  return out;
}

Result<Secret> resolve_secret(std::string_view key, std::string_view ref, bool from_env,
                              const std::map<std::string, std::string>& env,
                              std::vector<std::string>& warnings) {
  const std::string k(key);
  if (ref.starts_with("env:")) {
    std::string name(ref.substr(4));
    auto it = env.find(name);
    if (name.empty() || it == env.end())
      return fail(k + ": environment variable " + (name.empty() ? "(empty name)" : name) +
                  " (from \"" + std::string(ref) + "\") is not set");
    return Secret(it->second);
  }
  if (ref.starts_with("file:")) {
    std::string path(ref.substr(5));
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return fail(k + ": cannot read file \"" + path + "\" (from \"" + std::string(ref) +
                  "\"): " + std::strerror(errno));
    }
    std::string data(static_cast<std::size_t>(kMaxSecretFile) + 1, '\0');
    in.read(data.data(), kMaxSecretFile + 1);
    data.resize(static_cast<std::size_t>(in.gcount()));
    if (data.size() > static_cast<std::size_t>(kMaxSecretFile))
      return fail(k + ": file \"" + path + "\" is larger than 64 KiB; it is not a secret file");
    if (!data.empty() && data.back() == '\n') data.pop_back();
    if (!data.empty() && data.back() == '\r') data.pop_back();
    return Secret(std::move(data));
  }
  if (ref.starts_with("enc:")) {
    auto mk = master_key(env);
    if (!mk) return fail(k + ": cannot decrypt the enc: value: " + mk.error().message);
    auto plain = decrypt(ref.substr(4), *mk);
    if (!plain) return fail(k + ": cannot decrypt the enc: value: " + plain.error().message);
    return Secret(std::move(*plain));
  }
  if (!from_env && !ref.empty()) {
    warnings.push_back(k +
                       " is a literal secret in the config file; prefer an env:, file: or enc: "
                       "reference");
  }
  return Secret(std::string(ref));
}

}  // namespace detail

Result<std::string> encrypt_secret(std::string_view plaintext, std::string_view master_key_b64) {
  auto key = detail::base64_decode(master_key_b64);
  if (!key || key->size() != detail::kKeyBytes)
    return detail::fail("the master key is not a base64-encoded 32-byte key");
  std::string blob(detail::kNonceBytes + plaintext.size() + detail::kTagBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(blob.data());
  if (RAND_bytes(out, static_cast<int>(detail::kNonceBytes)) != 1)
    return detail::fail("no randomness available for the nonce");
  detail::CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int final_len = 0;
  bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(detail::kNonceBytes),
                          nullptr) == 1 &&
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr,
                         reinterpret_cast<const unsigned char*>(key->data()), out) == 1 &&
      EVP_EncryptUpdate(ctx.get(), out + detail::kNonceBytes, &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx.get(), out + detail::kNonceBytes + len, &final_len) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(detail::kTagBytes),
                          out + detail::kNonceBytes + plaintext.size()) == 1;
  if (!ok) return detail::fail("encryption failed");
  return detail::ok_text("enc:" + detail::base64_encode(blob));
}

std::string generate_master_key() {
  std::string key(detail::kKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1)
    return {};
  return detail::base64_encode(key);
}

}  // namespace isync::config
