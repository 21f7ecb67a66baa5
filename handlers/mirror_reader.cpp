#include <string>
#include <utility>
#include <vector>

#include "handlers/detail/mirror_lua.hpp"
#include "handlers/detail/record_doc.hpp"
#include "handlers/handlers.hpp"

namespace isync::handlers {
namespace {

// Audit entries returned per record (the stored trail is capped as well).
constexpr int kAuditReadLimit = 1000;
// Records returned by one id lookup.
constexpr int kFindLimit = 100;
// Longest id looked up; Intacct's ids are far shorter.
constexpr std::size_t kMaxIdBytes = 1024;

std::string noun_of(const std::string& object) {
  if (object == "CUSTOMER") return "customer";
  if (object == "ARINVOICE") return "invoice";
  return "payment";
}

Error unavailable(boost::system::error_code ec, const redis::Reply& reply) {
  std::string why = ec ? ec.message() : reply.str;
  return make_error("unavailable",
                    "the mirror cannot be read now (Redis: " + why + "); try again shortly");
}

Error unknown_collection(const std::string& collection) {
  return make_error("invalid_field", "collection \"" + collection +
                                         "\" is not one of customers, invoices, payments");
}

Result<std::string> ok(std::string text) {
  return Result<std::string>(boost::system::in_place_value, std::move(text));
}

Result<std::string> fail(Error e) {
  return Result<std::string>(boost::system::in_place_error, std::move(e));
}

}  // namespace

MirrorReader::MirrorReader(std::shared_ptr<redis::Connection> conn) : conn_(std::move(conn)) {}

void MirrorReader::get(const std::string& tenant, const std::string& collection,
                       const std::string& recordno, std::function<void(Result<std::string>)> done) {
  const std::string object = object_of_collection(collection);
  if (object.empty()) {
    done(fail(unknown_collection(collection)));
    return;
  }
  auto not_found = [=] {
    return make_error("not_found", "no " + noun_of(object) + " " + recordno +
                                       " in the mirror of tenant " + tenant);
  };
  if (!valid_tenant_id(tenant) || !detail::valid_recordno(recordno)) {
    done(fail(not_found()));
    return;
  }
  conn_->eval(detail::read_script(),
              {queue::key(tenant, "rec:" + object + ":" + recordno),
               queue::key(tenant, "audit:" + object + ":" + recordno)},
              {std::to_string(kAuditReadLimit)},
              [done = std::move(done), object, recordno, not_found](boost::system::error_code ec,
                                                                    redis::Reply reply) {
                if (ec || reply.is_error()) {
                  done(fail(unavailable(ec, reply)));
                  return;
                }
                if (reply.type != redis::Reply::Type::array || reply.elements.empty()) {
                  done(fail(not_found()));
                  return;
                }
                std::string out;
                if (!detail::append_record_doc(out, object, recordno, reply.elements, 0)) {
                  done(fail(make_error("unavailable", "the mirror record " + object + " " +
                                                          recordno + " has an unexpected shape")));
                  return;
                }
                done(ok(std::move(out)));
              });
}

void MirrorReader::find_by_id(const std::string& tenant, const std::string& collection,
                              const std::string& id,
                              std::function<void(Result<std::string>)> done) {
  const std::string object = object_of_collection(collection);
  if (object.empty()) {
    done(fail(unknown_collection(collection)));
    return;
  }
  if (!valid_tenant_id(tenant) || id.empty() || id.size() > kMaxIdBytes) {
    done(ok("{\"records\":[]}"));
    return;
  }
  conn_->eval(
      detail::find_script(), {queue::key(tenant, "id:" + object + ":" + id)},
      {queue::key(tenant, "rec:" + object + ":"), queue::key(tenant, "audit:" + object + ":"),
       std::to_string(kFindLimit), std::to_string(kAuditReadLimit)},
      [done = std::move(done), object](boost::system::error_code ec, redis::Reply reply) {
        if (ec || reply.is_error()) {
          done(fail(unavailable(ec, reply)));
          return;
        }
        std::string out = "{\"records\":[";
        bool first = true;
        for (const auto& row : reply.elements) {
          if (row.type != redis::Reply::Type::array || row.elements.size() < 6 ||
              row.elements[0].type != redis::Reply::Type::string) {
            continue;
          }
          std::string doc;
          if (!detail::append_record_doc(doc, object, row.elements[0].str, row.elements, 1)) {
            continue;
          }
          if (!first) out += ',';
          first = false;
          out += doc;
        }
        out += "]}";
        done(ok(std::move(out)));
      });
}

}  // namespace isync::handlers
