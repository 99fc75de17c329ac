# SPDX-License-Identifier: MIT
# convme_layer(NAME SOURCES ... ROOMS ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# One static library per layer. Its private include path is a staging folder holding only the
# rooms it may see (its own and those below it, as symlinks), so a lower layer that includes a
# higher layer's header fails to compile: "runtime/core/x.hpp" resolves, "driver/nvme/y.hpp" does
# not from runtime/core.
function(convme_layer name)
  cmake_parse_arguments(L "" "" "SOURCES;ROOMS;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  set(stage ${PROJECT_BINARY_DIR}/layers/${name})
  file(REMOVE_RECURSE ${stage})
  foreach(room IN LISTS L_ROOMS)
    get_filename_component(parent ${stage}/${room} DIRECTORY)
    file(MAKE_DIRECTORY ${parent})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${room} ${stage}/${room} SYMBOLIC)
  endforeach()
  add_library(${name} STATIC ${L_SOURCES})
  string(REPLACE "convme_" "" short ${name})
  add_library(convme::${short} ALIAS ${name})
  target_include_directories(${name}
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:include>
    PRIVATE ${stage})
  target_link_libraries(${name} PUBLIC ${L_PUBLIC_DEPS} PRIVATE ${L_PRIVATE_DEPS}
                        $<BUILD_INTERFACE:convme_warnings>)
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  set_property(GLOBAL APPEND PROPERTY CONVME_LAYERS ${name})
endfunction()
