// Source parsing: Hugging Face references, URLs, redirect targets and file names.
#include "download/model_source.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace capibara::download {
namespace {

TEST(HuggingFaceRef, DefaultsToMain) {
  const auto ref = parse_hugging_face_ref("TheBloke/TinyLlama-1.1B-GGUF/tinyllama.Q4_0.gguf");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->repo_id, "TheBloke/TinyLlama-1.1B-GGUF");
  EXPECT_EQ(ref->file_path, "tinyllama.Q4_0.gguf");
  EXPECT_EQ(ref->revision, "main");
  EXPECT_EQ(hugging_face_resolve_url(*ref),
            "https://huggingface.co/TheBloke/TinyLlama-1.1B-GGUF/resolve/main/tinyllama.Q4_0.gguf");
}

TEST(HuggingFaceRef, RevisionAndNestedPath) {
  const auto ref = parse_hugging_face_ref("org/repo/sub dir/model.gguf@refs/pr/1");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->file_path, "sub dir/model.gguf");
  EXPECT_EQ(ref->revision, "refs/pr/1");
  // The Hub wants the revision as one path segment and the file path with its slashes.
  EXPECT_EQ(hugging_face_resolve_url(*ref, "https://hf-mirror.com/"),
            "https://hf-mirror.com/org/repo/resolve/refs%2Fpr%2F1/sub%20dir/model.gguf");
}

TEST(HuggingFaceRef, RejectsWhatIsNotOne) {
  for (const char* text : {"model.gguf", "org/repo", "org/repo/", "./a/b.gguf", "/abs/path/x.gguf",
                           "org/repo/../x.gguf", "org//x.gguf", "org/repo/x.gguf@",
                           "https://huggingface.co/org/repo/x.gguf", "org name/repo/x.gguf"}) {
    EXPECT_FALSE(parse_hugging_face_ref(text)) << text;
  }
}

TEST(ModelSource, HuggingFaceForms) {
  const auto plain = resolve_model_source("org/repo/model-Q8_0.gguf");
  EXPECT_EQ(plain.url, "https://huggingface.co/org/repo/resolve/main/model-Q8_0.gguf");
  EXPECT_EQ(plain.file_name, "model-Q8_0.gguf");
  EXPECT_TRUE(plain.on_hugging_face);
  ASSERT_TRUE(plain.hf);

  const auto explicit_scheme = resolve_model_source("hf://org/repo/dir/model.gguf@abc123");
  EXPECT_EQ(explicit_scheme.url, "https://huggingface.co/org/repo/resolve/abc123/dir/model.gguf");
  EXPECT_EQ(explicit_scheme.file_name, "model.gguf");

  const auto mirrored = resolve_model_source("org/repo/m.gguf", "http://127.0.0.1:8080");
  EXPECT_EQ(mirrored.url, "http://127.0.0.1:8080/org/repo/resolve/main/m.gguf");
  EXPECT_TRUE(mirrored.on_hugging_face);
}

TEST(ModelSource, Urls) {
  const auto s = resolve_model_source("https://example.com/models/x%20y.gguf?download=true#frag");
  EXPECT_EQ(s.url, "https://example.com/models/x%20y.gguf?download=true");
  EXPECT_EQ(s.file_name, "x y.gguf");
  EXPECT_FALSE(s.on_hugging_face);
  EXPECT_FALSE(s.hf);
  EXPECT_EQ(resolve_model_source("HTTP://Example.COM:8080/a.gguf").url,
            "http://example.com:8080/a.gguf");
}

TEST(ModelSource, HubPageUrlBecomesTheFileUrl) {
  const auto s = resolve_model_source("https://huggingface.co/org/repo/blob/main/model.gguf");
  EXPECT_EQ(s.url, "https://huggingface.co/org/repo/resolve/main/model.gguf");
  EXPECT_TRUE(s.on_hugging_face);
  // Other hosts keep their paths.
  EXPECT_EQ(resolve_model_source("https://example.com/org/repo/blob/main/model.gguf").url,
            "https://example.com/org/repo/blob/main/model.gguf");
}

TEST(ModelSource, ClearErrors) {
  const auto message = [](const char* text) {
    try {
      resolve_model_source(text);
    } catch (const InvalidArgumentError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message("ftp://host/x.gguf").find("unsupported URL scheme 'ftp'"), std::string::npos);
  EXPECT_NE(message("model.gguf").find("neither a URL nor a Hugging Face reference"),
            std::string::npos);
  EXPECT_NE(message("org/repo").find("add the file"), std::string::npos);
  EXPECT_NE(message("hf://org").find("hf://org/repo/file.gguf"), std::string::npos);
  EXPECT_NE(message("https://user:pw@host/x.gguf").find("credentials"), std::string::npos);
  EXPECT_NE(message("http://host:99999/x.gguf").find("invalid port"), std::string::npos);
  EXPECT_NE(message("http:///x.gguf").find("no host"), std::string::npos);
}

TEST(Url, Parts) {
  const Url u = parse_url("https://cdn.example.com/a/b.gguf?sig=1+2");
  EXPECT_EQ(u.scheme, "https");
  EXPECT_EQ(u.host, "cdn.example.com");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.target, "/a/b.gguf?sig=1+2");
  EXPECT_EQ(u.origin(), "https://cdn.example.com:443");
  EXPECT_EQ(u.str(), "https://cdn.example.com/a/b.gguf?sig=1+2");
  EXPECT_EQ(u.str(true), "https://cdn.example.com/a/b.gguf");

  const Url v6 = parse_url("http://[::1]:8080");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 8080);
  EXPECT_EQ(v6.target, "/");
  EXPECT_EQ(v6.origin(), "http://[::1]:8080");
}

TEST(Url, RedirectLocations) {
  const Url base = parse_url("https://hub.example/org/repo/resolve/main/m.gguf?x=1");
  EXPECT_EQ(resolve_location(base, "https://cdn.example/blob?sig=a%2Bb").str(),
            "https://cdn.example/blob?sig=a%2Bb");
  EXPECT_EQ(resolve_location(base, "//cdn.example/blob").str(), "https://cdn.example/blob");
  EXPECT_EQ(resolve_location(base, "/api/resolve-cache/m.gguf").str(),
            "https://hub.example/api/resolve-cache/m.gguf");
  EXPECT_EQ(resolve_location(base, "other.gguf").str(),
            "https://hub.example/org/repo/resolve/main/other.gguf");
  EXPECT_EQ(resolve_location(base, " /a b ").str(), "https://hub.example/a%20b");
}

TEST(PercentCoding, RoundTrip) {
  EXPECT_EQ(percent_encode("a b/c~d", true), "a%20b/c~d");
  EXPECT_EQ(percent_encode("a/b", false), "a%2Fb");
  EXPECT_EQ(percent_decode("a%20b%2fc%zz%"), "a b/c%zz%");
}

}  // namespace
}  // namespace capibara::download
