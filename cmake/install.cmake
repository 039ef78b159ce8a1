# install.cmake - what `cmake --install` puts where, and `cpack -G DEB` for a Debian package:
# the binary in bin/, the example config and the docs in share/doc/seekd/, and the systemd unit
# in lib/systemd/system/ (naming the binary at the prefix it is installed under, cpack's too).
include(GNUInstallDirs)

install(TARGETS seekd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/examples/seekd.conf DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/config.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR})
# The prefix is only known at install time (cpack installs under its own), so the unit is
# written then.
install(CODE "
  set(SEEKD_BIN \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/seekd\")
  configure_file(\"${PROJECT_SOURCE_DIR}/packaging/seekd.service.in\"
    \"${CMAKE_CURRENT_BINARY_DIR}/packaging/seekd.service\" @ONLY)
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\" TYPE FILE
    FILES \"${CMAKE_CURRENT_BINARY_DIR}/packaging/seekd.service\")
")

set(CPACK_PACKAGE_NAME seekd)
set(CPACK_PACKAGE_VENDOR "seekd")
set(CPACK_PACKAGE_CONTACT "seekd maintainers <seekd@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "DeepSeek-compatible API server and relay")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
include(CPack)
