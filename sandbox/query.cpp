// readByQuery query text and query <filter> trees → Expr (evaluation:
// query_eval.cpp).
// PROTOCOL.md §3: spaces around operators; strings in single quotes with \'
// escapes; case-sensitive string comparison (the query function's
// caseinsensitive option folds case); no joins.
#include "sandbox/detail/query.hpp"

#include <cctype>
#include <pugixml.hpp>

namespace isync::sandbox::detail {
namespace {

constexpr std::size_t kMaxQueryText = 64 * 1024;
constexpr int kMaxDepth = 64;

Failure bad_query(const std::string& why) {
  return {"DL02000001",
          "There was an error processing the request.",
          "Invalid query: " + why,
          "Check the query syntax (PROTOCOL.md §3).",
          "invalid_value",
          {}};
}

// The literal must fit the field's type: a number for numbers, Intacct's
// date forms for dates (ISO text is refused, as Intacct reportedly does).
std::optional<Failure> check_compare(const ObjectDef& def, Expr& e) {
  e.field = to_upper(e.field);
  const FieldDef* f = def.field(e.field);
  if (f == nullptr) return unknown_field(def.name, e.field);
  for (const auto& v : e.values) {
    // Appended rather than `"'" + …`: GCC 12 at -O3 reports a false -Wrestrict
    // on a literal prepended to a temporary string.
    std::string quoted = "'";
    quoted += shorten(v, 40);
    quoted += "'";
    if (numeric(f->type) && !parse_cents(v))
      return bad_query(quoted + " is not a number for " + e.field);
    if (temporal(f->type) && !parse_intacct_time(v))
      return bad_query(quoted + " is not a date (MM/DD/YYYY [HH:MM:SS]) for " + e.field);
  }
  return std::nullopt;
}

// ---- query text ----------------------------------------------------------------

struct Token {
  enum class Kind { word, string, number, op, lparen, rparen, comma, end };
  Kind kind = Kind::end;
  std::string text;
};

class Parser {
 public:
  Parser(std::string_view text, const ObjectDef& def) : text_(text), def_(def) {}

  std::optional<Failure> parse(Expr& out) {
    if (auto bad = lex()) return bad;
    if (tokens_.size() == 1) {
      out = Expr{};
      return std::nullopt;
    }
    if (auto bad = parse_or(out, 0)) return bad;
    if (peek().kind != Token::Kind::end)
      return bad_query("unexpected '" + shorten(peek().text, 40) + "'");
    return std::nullopt;
  }

 private:
  std::optional<Failure> lex() {
    std::size_t i = 0;
    while (i < text_.size()) {
      const char c = text_[i];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i;
      } else if (c == '\'') {
        std::string s;
        ++i;
        bool closed = false;
        while (i < text_.size()) {
          if (text_[i] == '\\' && i + 1 < text_.size()) {
            s += text_[i + 1];
            i += 2;
          } else if (text_[i] == '\'') {
            closed = true;
            ++i;
            break;
          } else {
            s += text_[i++];
          }
        }
        if (!closed) return bad_query("unterminated string");
        tokens_.push_back({Token::Kind::string, std::move(s)});
      } else if (c == '(' || c == ')' || c == ',') {
        tokens_.push_back({c == '('   ? Token::Kind::lparen
                           : c == ')' ? Token::Kind::rparen
                                      : Token::Kind::comma,
                           std::string(1, c)});
        ++i;
      } else if (c == '=' || c == '<' || c == '>' || c == '!') {
        std::string op(1, c);
        if (i + 1 < text_.size() && (text_[i + 1] == '=' || (c == '<' && text_[i + 1] == '>')))
          op += text_[i + 1];
        if (op == "!") return bad_query("'!' must be followed by '='");
        tokens_.push_back({Token::Kind::op, op});
        i += op.size();
      } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.') {
        std::size_t j = i + 1;
        while (j < text_.size() &&
               (std::isdigit(static_cast<unsigned char>(text_[j])) || text_[j] == '.'))
          ++j;
        tokens_.push_back({Token::Kind::number, std::string(text_.substr(i, j - i))});
        i = j;
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        std::size_t j = i + 1;
        while (j < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[j])) ||
                                    text_[j] == '_' || text_[j] == '.')) {
          ++j;
        }
        tokens_.push_back({Token::Kind::word, std::string(text_.substr(i, j - i))});
        i = j;
      } else {
        return bad_query("unexpected character '" + std::string(1, c) + "'");
      }
    }
    tokens_.push_back({Token::Kind::end, ""});
    return std::nullopt;
  }

  const Token& peek(std::size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  Token next() { return tokens_[std::min(pos_++, tokens_.size() - 1)]; }
  bool keyword(const char* word, std::size_t ahead = 0) const {
    return peek(ahead).kind == Token::Kind::word && to_upper(peek(ahead).text) == word;
  }

  std::optional<Failure> parse_or(Expr& out, int depth) {
    if (depth > kMaxDepth) return bad_query("nested too deeply");
    Expr first;
    if (auto bad = parse_and(first, depth)) return bad;
    if (!keyword("OR")) {
      out = std::move(first);
      return std::nullopt;
    }
    out = Expr{Expr::Kind::or_, {std::move(first)}, "", Op::eq, {}};
    while (keyword("OR")) {
      next();
      Expr e;
      if (auto bad = parse_and(e, depth)) return bad;
      out.children.push_back(std::move(e));
    }
    return std::nullopt;
  }

  std::optional<Failure> parse_and(Expr& out, int depth) {
    Expr first;
    if (auto bad = parse_not(first, depth)) return bad;
    if (!keyword("AND")) {
      out = std::move(first);
      return std::nullopt;
    }
    out = Expr{Expr::Kind::and_, {std::move(first)}, "", Op::eq, {}};
    while (keyword("AND")) {
      next();
      Expr e;
      if (auto bad = parse_not(e, depth)) return bad;
      out.children.push_back(std::move(e));
    }
    return std::nullopt;
  }

  std::optional<Failure> parse_not(Expr& out, int depth) {
    if (keyword("NOT")) {
      next();
      Expr inner;
      if (auto bad = parse_not(inner, depth + 1)) return bad;
      out = Expr{Expr::Kind::not_, {std::move(inner)}, "", Op::eq, {}};
      return std::nullopt;
    }
    if (peek().kind == Token::Kind::lparen) {
      next();
      if (auto bad = parse_or(out, depth + 1)) return bad;
      if (next().kind != Token::Kind::rparen) return bad_query("missing ')'");
      return std::nullopt;
    }
    return parse_compare(out);
  }

  std::optional<Failure> literal(std::string& out) {
    const Token t = next();
    if (t.kind != Token::Kind::string && t.kind != Token::Kind::number) {
      return bad_query("expected a value, found '" + shorten(t.text, 40) + "'");
    }
    out = t.text;
    return std::nullopt;
  }

  std::optional<Failure> parse_compare(Expr& out) {
    const Token field = next();
    if (field.kind != Token::Kind::word)
      return bad_query("expected a field name, found '" + shorten(field.text, 40) + "'");
    out = Expr{Expr::Kind::compare, {}, field.text, Op::eq, {}};
    if (keyword("IS")) {
      next();
      bool negated = false;
      if (keyword("NOT")) {
        next();
        negated = true;
      }
      if (!keyword("NULL")) return bad_query("expected NULL after IS");
      next();
      out.op = negated ? Op::is_not_null : Op::is_null;
      return check_compare(def_, out);
    }
    bool negated = false;
    if (keyword("NOT")) {
      next();
      negated = true;
    }
    if (keyword("LIKE")) {
      next();
      out.op = negated ? Op::not_like : Op::like;
      out.values.emplace_back();
      if (auto bad = literal(out.values.back())) return bad;
      return check_compare(def_, out);
    }
    if (keyword("IN")) {
      next();
      out.op = negated ? Op::not_in : Op::in;
      if (next().kind != Token::Kind::lparen) return bad_query("expected '(' after IN");
      do {
        out.values.emplace_back();
        if (auto bad = literal(out.values.back())) return bad;
      } while (peek().kind == Token::Kind::comma && (next(), true));
      if (next().kind != Token::Kind::rparen) return bad_query("expected ')' closing IN");
      return check_compare(def_, out);
    }
    if (negated) return bad_query("expected LIKE or IN after NOT");
    const Token op = next();
    if (op.kind != Token::Kind::op)
      return bad_query("expected an operator after " + shorten(field.text, 40));
    static const std::pair<const char*, Op> kOps[] = {{"=", Op::eq}, {"!=", Op::ne}, {"<>", Op::ne},
                                                      {"<", Op::lt}, {">", Op::gt},  {"<=", Op::le},
                                                      {">=", Op::ge}};
    for (const auto& [text, o] : kOps) {
      if (op.text == text) out.op = o;
    }
    out.values.emplace_back();
    if (auto bad = literal(out.values.back())) return bad;
    return check_compare(def_, out);
  }

  std::string_view text_;
  const ObjectDef& def_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
};

// ---- filter XML -----------------------------------------------------------------

std::optional<Failure> filter_node(const pugi::xml_node& node, const ObjectDef& def, Expr& out,
                                   int depth) {
  if (depth > kMaxDepth) return bad_query("filter nested too deeply");
  const std::string name = node.name();
  if (name == "and" || name == "or") {
    out = Expr{name == "and" ? Expr::Kind::and_ : Expr::Kind::or_, {}, "", Op::eq, {}};
    for (auto child : node.children()) {
      if (child.type() != pugi::node_element) continue;
      out.children.emplace_back();
      if (auto bad = filter_node(child, def, out.children.back(), depth + 1)) return bad;
    }
    if (out.children.size() < 2) return bad_query("<" + name + "> needs at least two conditions");
    return std::nullopt;
  }
  static const std::pair<const char*, Op> kOps[] = {
      {"equalto", Op::eq},           {"notequalto", Op::ne},
      {"lessthan", Op::lt},          {"lessthanorequalto", Op::le},
      {"greaterthan", Op::gt},       {"greaterthanorequalto", Op::ge},
      {"between", Op::between},      {"in", Op::in},
      {"notin", Op::not_in},         {"like", Op::like},
      {"notlike", Op::not_like},     {"isnull", Op::is_null},
      {"isnotnull", Op::is_not_null}};
  const Op* op = nullptr;
  for (const auto& [text, o] : kOps) {
    if (name == text) op = &o;
  }
  if (op == nullptr) return bad_query("unknown filter <" + shorten(name, 40) + ">");
  out = Expr{Expr::Kind::compare, {}, node.child("field").text().get(), *op, {}};
  if (out.field.empty()) return bad_query("<" + name + "> needs a <field>");
  for (auto v : node.children("value")) out.values.emplace_back(v.text().get());
  const std::size_t n = out.values.size();
  const bool ok = *op == Op::is_null || *op == Op::is_not_null ? n == 0
                  : *op == Op::between                         ? n == 2
                  : *op == Op::in || *op == Op::not_in         ? n >= 1
                                                               : n == 1;
  if (!ok) return bad_query("<" + name + "> has the wrong number of <value>s");
  return check_compare(def, out);
}

}  // namespace

std::optional<Failure> parse_query_text(std::string_view text, const ObjectDef& def, Expr& out) {
  if (text.size() > kMaxQueryText) return bad_query("longer than 64 KiB");
  return Parser(text, def).parse(out);
}

std::optional<Failure> parse_filter_xml(const pugi::xml_node& filter, const ObjectDef& def,
                                        Expr& out) {
  pugi::xml_node first;
  int elements = 0;
  for (auto child : filter.children()) {
    if (child.type() != pugi::node_element) continue;
    if (elements++ == 0) first = child;
  }
  if (elements == 0) {
    out = Expr{};
    return std::nullopt;
  }
  if (elements > 1)
    return bad_query("<filter> takes one condition; combine several with <and> or <or>");
  return filter_node(first, def, out, 0);
}

}  // namespace isync::sandbox::detail
