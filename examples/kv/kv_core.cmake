# SPDX-License-Identifier: MIT
# convme_kv_core: the KV store without networking (RESP parser, log format, shards, commands).
# Included from examples/CMakeLists.txt and tests/kv_extra/CMakeLists.txt, whichever comes first.
if(NOT TARGET convme_kv_core)
  set(_kv ${CMAKE_CURRENT_LIST_DIR})
  add_library(convme_kv_core STATIC
    ${_kv}/checksum.cpp ${_kv}/resp_parser.cpp ${_kv}/resp_whole.cpp ${_kv}/record.cpp ${_kv}/io_buffer.cpp
    ${_kv}/shard.cpp ${_kv}/shard_writer.cpp ${_kv}/shard_pipeline.cpp ${_kv}/shard_recovery.cpp ${_kv}/scan_reader.cpp ${_kv}/shard_compaction.cpp
    ${_kv}/store.cpp ${_kv}/command_table.cpp ${_kv}/command_strings.cpp ${_kv}/command_keys.cpp
    ${_kv}/command_server.cpp ${_kv}/multi_shard.cpp ${_kv}/command_multi.cpp
    ${_kv}/command_docs.cpp ${_kv}/command_info.cpp ${_kv}/pipeline_exec.cpp ${_kv}/flush_hub.cpp)
  target_include_directories(convme_kv_core PUBLIC ${_kv} ${PROJECT_SOURCE_DIR})
  target_link_libraries(convme_kv_core PUBLIC convme PRIVATE $<BUILD_INTERFACE:convme_warnings>)
  unset(_kv)
endif()
