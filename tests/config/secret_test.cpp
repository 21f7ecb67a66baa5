#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"

using namespace isync::config;
using Env = std::map<std::string, std::string>;

namespace {

// Base64 via OpenSSL, so the test does not trust the module's own codec.
std::string b64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// Independent AES-256-GCM encryption in the documented format:
// base64(nonce[12] | ciphertext | tag[16]).
std::string encrypt(const std::string& plain, const std::string& key) {
  std::array<unsigned char, 12> nonce{};
  RAND_bytes(nonce.data(), 12);
  std::string ct(plain.size(), '\0');
  std::array<unsigned char, 16> tag{};
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr,
                     reinterpret_cast<const unsigned char*>(key.data()), nonce.data());
  EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(ct.data()), &len,
                    reinterpret_cast<const unsigned char*>(plain.data()),
                    static_cast<int>(plain.size()));
  EVP_EncryptFinal_ex(ctx, nullptr, &len);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag.data());
  EVP_CIPHER_CTX_free(ctx);
  return "enc:" + b64(std::string(reinterpret_cast<char*>(nonce.data()), 12) + ct +
                      std::string(reinterpret_cast<char*>(tag.data()), 16));
}

std::string admin_toml(const std::string& ref) { return "[admin]\ntoken = \"" + ref + "\"\n"; }

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/isync-secret-XXXXXX";
    int fd = mkstemp(tmpl);
    REQUIRE(fd >= 0);
    close(fd);
    path_ = tmpl;
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

const std::string kKey(32, '\x5a');

}  // namespace

TEST_CASE("env: references read the named variable") {
  auto c = load_text(admin_toml("env:ADMIN_T"), "t", {{"ADMIN_T", "a-token"}});
  REQUIRE(c.has_value());
  CHECK(c->admin.token.reveal() == "a-token");
  CHECK(c->warnings.empty());
}

TEST_CASE("a missing env: variable is an error naming the key and the reference") {
  auto c = load_text(admin_toml("env:NOPE"), "t", {});
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message ==
        "admin.token: environment variable NOPE (from \"env:NOPE\") is not set");
}

TEST_CASE("file: references read the file with one trailing newline stripped") {
  TempFile f("file-token\n");
  auto c = load_text(admin_toml("file:" + f.path()), "t", {});
  REQUIRE(c.has_value());
  CHECK(c->admin.token.reveal() == "file-token");
}

TEST_CASE("a missing file: is an error naming the key, the reference and the cause") {
  auto c = load_text("[[tenant]]\nid = \"a\"\ntoken = \"file:/nonexistent/t\"\n", "t", {});
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message ==
        "tenant[0].token: cannot read file \"/nonexistent/t\" (from \"file:/nonexistent/t\"): No "
        "such file or directory");
}

TEST_CASE("enc: references decrypt AES-256-GCM under INTACCT_SYNC_MASTER_KEY") {
  const Env env{{"INTACCT_SYNC_MASTER_KEY", b64(kKey)}};
  auto c = load_text(admin_toml(encrypt("enc-token-value", kKey)), "t", env);
  REQUIRE(c.has_value());
  CHECK(c->admin.token.reveal() == "enc-token-value");

  auto made = encrypt_secret("round-trip", b64(kKey));
  REQUIRE(made.has_value());
  auto c2 = load_text(admin_toml(*made), "t", env);
  REQUIRE(c2.has_value());
  CHECK(c2->admin.token.reveal() == "round-trip");
}

TEST_CASE("enc: with a wrong key, an altered value or no master key fails without the secret") {
  const std::string ref = encrypt("do-not-leak-me", kKey);
  auto wrong =
      load_text(admin_toml(ref), "t", {{"INTACCT_SYNC_MASTER_KEY", b64(std::string(32, '\x01'))}});
  REQUIRE_FALSE(wrong.has_value());
  CHECK(wrong.error().message ==
        "admin.token: cannot decrypt the enc: value: decryption failed (wrong master key, or the "
        "value was altered)");

  std::string altered = ref;
  altered[10] = altered[10] == 'A' ? 'B' : 'A';
  auto bad = load_text(admin_toml(altered), "t", {{"INTACCT_SYNC_MASTER_KEY", b64(kKey)}});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message.find("do-not-leak-me") == std::string::npos);

  auto none = load_text(admin_toml(ref), "t", {});
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().message ==
        "admin.token: cannot decrypt the enc: value: INTACCT_SYNC_MASTER_KEY is not set (it holds "
        "the base64 master key)");

  auto short_key = load_text(admin_toml(ref), "t", {{"INTACCT_SYNC_MASTER_KEY", b64("short")}});
  REQUIRE_FALSE(short_key.has_value());
  CHECK(short_key.error().message ==
        "admin.token: cannot decrypt the enc: value: INTACCT_SYNC_MASTER_KEY is not a "
        "base64-encoded 32-byte key");
}

TEST_CASE("a literal secret is accepted with a warning that does not contain it") {
  auto c = load_text(admin_toml("literal-admin-secret"), "t", {});
  REQUIRE(c.has_value());
  CHECK(c->admin.token.reveal() == "literal-admin-secret");
  REQUIRE(c->warnings.size() == 1);
  CHECK(c->warnings[0] ==
        "admin.token is a literal secret in the config file; prefer an env:, file: or enc: "
        "reference");
}

TEST_CASE("a redis url warns only when it holds a literal password") {
  auto plain = load_text("[redis]\nurl = \"redis://127.0.0.1:6379/0\"\n", "t", {});
  REQUIRE(plain.has_value());
  CHECK(plain->warnings.empty());
  auto with_pw = load_text("[redis]\nurl = \"redis://:hunter2@127.0.0.1:6379/0\"\n", "t", {});
  REQUIRE(with_pw.has_value());
  CHECK(with_pw->warnings.size() == 1);
  CHECK(with_pw->redis.display_url == "redis://:***@127.0.0.1:6379/0");
  CHECK(with_pw->redis.url.reveal() == "redis://:hunter2@127.0.0.1:6379/0");
}

TEST_CASE("secret values never appear in error messages") {
  // A bad redis url with a password in it.
  auto r = load_text("[redis]\nurl = \"rediss://:hunter2@host:6379\"\n", "t", {});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message == "redis.url: expected redis://[[user]:password@]host[:port][/db]");
  // A secret of the wrong type.
  auto t = load_text("[admin]\ntoken = 12345\n", "t", {});
  REQUIRE_FALSE(t.has_value());
  CHECK(t.error().message ==
        "admin.token: expected a string (a secret reference: env:NAME, file:PATH or enc:…)");
}

TEST_CASE("a Secret prints as ***") {
  std::ostringstream os;
  os << Secret("value");
  CHECK(os.str() == "***");
}
