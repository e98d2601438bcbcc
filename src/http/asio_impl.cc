// http/asio_impl.cc — the one translation unit that compiles Asio, Asio SSL and Beast
// (BOOST_*_SEPARATE_COMPILATION is set project-wide), which keeps every other file's build fast.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
