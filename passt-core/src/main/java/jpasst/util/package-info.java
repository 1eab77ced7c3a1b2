/**
 * Logging as passt logs ({@code Log}: standard error, a log file, the system logger), and the small
 * text files a launch reads ({@code TextFiles}).
 *
 * May use: sys.
 */
package jpasst.util;
