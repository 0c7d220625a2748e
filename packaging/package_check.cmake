# package_check.cmake: cpack reads this file (CPACK_PROJECT_CONFIG_FILE,
# set in cmake/package.cmake) before it builds the package, and stops when
# the build was configured for a prefix other than /usr or with sanitizers.
# The programs and the unit carry the paths of the prefix they were
# configured with, while the package always installs below /usr: a
# /usr/local build would make a package whose daemon looks for
# /usr/local/etc/promised/promised.yaml.
if(NOT CPACK_PROMISED_BUILD_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR
    "promised: refusing to build the .deb from a build configured with "
    "CMAKE_INSTALL_PREFIX=${CPACK_PROMISED_BUILD_PREFIX}; the package installs "
    "below /usr and the programs must look for their files there. Configure "
    "a separate build with -DCMAKE_INSTALL_PREFIX=/usr "
    "-DCMAKE_BUILD_TYPE=Release and run the package target there.")
endif()

# Sanitizer builds need the ASan runtime and abort on the first finding: never
# ship one. A Debug build works but is slow and unoptimised: say so.
if(CPACK_PROMISED_SANITIZE)
  message(FATAL_ERROR
    "promised: refusing to build the .deb from a PROMISED_SANITIZE=ON build; "
    "configure a separate Release build (see cmake/package.cmake).")
endif()
if(NOT CPACK_PROMISED_BUILD_TYPE MATCHES "^(Release|RelWithDebInfo|MinSizeRel)$")
  message(WARNING
    "promised: packaging a ${CPACK_PROMISED_BUILD_TYPE} build; "
    "-DCMAKE_BUILD_TYPE=Release is the one meant for packages.")
endif()
